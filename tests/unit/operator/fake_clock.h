#pragma once

#include <chrono>

#include "ringlb/operator/clock.h"

namespace ringlb::op::testing {

/// Simulated time: starts at an arbitrary point and moves only when told.
class FakeClock final : public Clock {
 public:
  TimePoint now() const noexcept override { return now_; }
  void advance(Duration by) { now_ += by; }

 private:
  TimePoint now_ = TimePoint(std::chrono::hours(1000));
};

}  // namespace ringlb::op::testing
