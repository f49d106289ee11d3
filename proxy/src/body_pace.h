#pragma once

#include <chrono>
#include <cstdint>

namespace ringlb::proxy {

/// How long the next read of a request body may wait on the client. Every
/// read gets at most `idle`; with `minRate` (bytes per second, 0 for none) the
/// whole body must also keep pace: the client has earned `idle` plus one
/// second per `minRate` bytes it sent (`received`), of which it has used
/// `waited` (time spent waiting on it, not on the member). Apache's
/// mod_reqtimeout MinRate works alike; it ends a slow-body (R-U-Dead-Yet)
/// client that trickles a byte just before each idle timeout. Returns 0 when
/// the earned time is used up. Pure.
inline std::chrono::milliseconds bodyReadTimeout(std::chrono::milliseconds idle, std::uint64_t minRate,
                                                 std::uint64_t received, std::chrono::nanoseconds waited) noexcept {
  using std::chrono::milliseconds;
  if (minRate == 0) return idle;
  const auto earnedMs = idle.count() + static_cast<std::int64_t>(received / minRate * 1000 + received % minRate * 1000 / minRate);
  const auto left = earnedMs - std::chrono::duration_cast<milliseconds>(waited).count();
  if (left <= 0) return milliseconds{0};
  return left < idle.count() ? milliseconds{left} : idle;
}

}  // namespace ringlb::proxy
