#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

#include "ringlb/operator/clock.h"

namespace ringlb::op {

/// A token bucket: `burst` tokens, refilled at `ratePerSecond`. Time is passed
/// in, so it runs in simulated time. Not thread-safe (callers lock).
class TokenBucket {
 public:
  TokenBucket(double ratePerSecond, double burst) : rate_(ratePerSecond), burst_(burst), tokens_(burst) {}

  /// Takes one token if available at `now`. Returns whether it did.
  bool tryTake(Clock::TimePoint now) {
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

  /// Reserves one token and returns how long to wait before using it (zero
  /// when one is available now). Tokens may go negative: later reservations
  /// wait behind earlier ones.
  Clock::Duration reserve(Clock::TimePoint now) {
    refill(now);
    tokens_ -= 1.0;
    if (tokens_ >= 0.0) return Clock::Duration::zero();
    return std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(-tokens_ / rate_));
  }

  /// As reserve(), but takes nothing and returns std::nullopt when the wait
  /// would exceed `maxWait` (a caller with a deadline gives up instead).
  std::optional<Clock::Duration> reserveWithin(Clock::TimePoint now, Clock::Duration maxWait) {
    refill(now);
    const double after = tokens_ - 1.0;
    const auto wait = after >= 0.0 ? Clock::Duration::zero()
                                   : std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(-after / rate_));
    if (wait > maxWait) return std::nullopt;
    tokens_ = after;
    return wait;
  }

 private:
  void refill(Clock::TimePoint now) {
    if (!initialized_) {
      initialized_ = true;
      last_ = now;
      return;
    }
    if (now <= last_) return;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }

  double rate_;
  double burst_;
  double tokens_;
  bool initialized_ = false;
  Clock::TimePoint last_{};
};

}  // namespace ringlb::op
