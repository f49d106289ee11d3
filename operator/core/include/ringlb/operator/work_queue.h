#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "ringlb/operator/clock.h"
#include "ringlb/operator/token_bucket.h"

namespace ringlb::op {

/// The controller's work queue, as client-go's: keys are de-duplicated, a key
/// is never handed to two workers at once (one added while it is being
/// processed is queued again when done), delayed adds fire at their time, and
/// failures back off per key exponentially up to a cap. Time is passed in,
/// so it runs in simulated time; it does no locking (the caller does).
class WorkQueue {
 public:
  struct Options {
    std::chrono::milliseconds backoffBase{5};
    std::chrono::milliseconds backoffCap{30000};
    // Overall retry budget across keys (client-go's default: 10/s, burst 100),
    // so a mass failure cannot turn into a retry storm.
    double retriesPerSecond = 10;
    double retryBurst = 100;
  };

  WorkQueue() : WorkQueue(Options{}) {}
  explicit WorkQueue(Options options)
      : options_(options), retryBudget_(options.retriesPerSecond, options.retryBurst) {}

  /// Queues `key` now (no-op if already queued).
  void add(const std::string& key);

  /// Queues `key` at `when`; an earlier pending time wins.
  void addAt(const std::string& key, Clock::TimePoint when);

  /// Queues `key` after its per-key backoff (base·2^failures, capped) or the
  /// wait for a token of the global retry bucket, whichever is longer, and
  /// counts one more failure. Returns the delay used.
  Clock::Duration addRateLimited(const std::string& key, Clock::TimePoint now);

  /// Clears the key's failure count (after a successful pass).
  void forget(const std::string& key);

  /// Moves delayed keys whose time has come into the queue, then takes the
  /// first key not being processed. The key is processing until done().
  std::optional<std::string> take(Clock::TimePoint now);

  /// Ends processing of `key`; if it was added meanwhile it is queued again.
  void done(const std::string& key);

  /// When the earliest delayed key is due, if any.
  std::optional<Clock::TimePoint> nextDeadline() const;

  std::uint32_t failures(const std::string& key) const;
  std::size_t queued() const { return queue_.size(); }
  bool processing(const std::string& key) const { return processing_.count(key) != 0; }

 private:
  void promote(Clock::TimePoint now);

  Options options_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;       // queued, or added again while processing
  std::set<std::string> processing_;
  std::map<std::string, Clock::TimePoint> delayed_;
  std::map<std::string, std::uint32_t> failures_;
  TokenBucket retryBudget_;
};

}  // namespace ringlb::op
