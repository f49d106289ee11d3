#pragma once

#include <chrono>
#include <mutex>

#include "ringlb/operator/clock.h"

namespace ringlb::op::testing {

/// Simulated time: starts at an arbitrary point and moves only when the test
/// says so. Thread-safe, as code under test reads it from its own threads
/// (leader election, list-watch, work queue).
class FakeClock final : public Clock {
 public:
  TimePoint now() const noexcept override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void advance(Duration by) {
    std::lock_guard lock(mutex_);
    now_ += by;
  }
  void set(TimePoint to) {
    std::lock_guard lock(mutex_);
    now_ = to;
  }

 private:
  mutable std::mutex mutex_;
  TimePoint now_{std::chrono::hours(1000)};
};

}  // namespace ringlb::op::testing
