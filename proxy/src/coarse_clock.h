#pragma once

#include <cstdint>
#include <ctime>

namespace ringlb::proxy {

/// Coarse monotonic clock (a few ms resolution, served from the vDSO without
/// reading the TSC): for deadlines and ejections.
inline std::int64_t coarseNanos() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace ringlb::proxy
