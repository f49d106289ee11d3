#pragma once

#include <chrono>

namespace ringlb::op {

/// Monotonic time source, injected so heartbeat, backoff and leader-election
/// logic can be tested in simulated time.
class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;

  /// Current monotonic time. Thread-safe.
  virtual TimePoint now() const noexcept = 0;
};

/// The real steady clock.
class SteadyClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return std::chrono::steady_clock::now(); }
};

}  // namespace ringlb::op
