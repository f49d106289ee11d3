#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ringlb/operator/clock.h"
#include "ringlb/operator/replica_record.h"

namespace ringlb::op {

/// One entry of a ring's event timeline, as the status page shows it.
struct TimelineEvent {
  enum class Kind { Added, Removed, Failed, Replaced, RolledOut, Recovered };
  std::int64_t unixMillis = 0;
  std::string member;
  Kind kind = Kind::Added;
  std::string detail;
  /// Failed: the outage's length once the slot was Ready again; Recovered: the same.
  std::optional<std::int64_t> outageMillis;

  friend bool operator==(const TimelineEvent&, const TimelineEvent&) = default;
};

std::string_view toString(TimelineEvent::Kind kind);

/// Derives a ring's event timeline (failures with their outage lengths,
/// replacements, scale steps, rollout steps) from successive observations of
/// its replica records. It compares what it saw last with what it sees now,
/// so an outage shorter than any poll (a SIGKILLed replica replaced in
/// milliseconds) is still recorded: the record's failedAt, restart count and
/// readySince carry it. Not thread-safe; the controller calls it under its lock.
class ReplicaTimeline {
 public:
  /// Keeps at most `capacity` events, dropping the oldest.
  explicit ReplicaTimeline(std::size_t capacity = 200) : capacity_(capacity) {}

  /// Compares `records` with the previous observation and appends what
  /// changed. `now` is the steady clock the records' times come from;
  /// `unixMillisNow` is the wall clock at the same moment.
  void observe(const std::map<std::string, ReplicaRecord>& records, Clock::TimePoint now, std::int64_t unixMillisNow);

  /// Events, oldest first.
  const std::deque<TimelineEvent>& events() const noexcept { return events_; }

  /// Failures of `member` at or after `sinceUnixMillis`.
  std::size_t failuresSince(const std::string& member, std::int64_t sinceUnixMillis) const;

  /// When the member's current outage began, if it has one (failed and not Ready since).
  std::optional<std::int64_t> outageSince(const std::string& member) const;

 private:
  struct Seen {
    std::optional<Clock::TimePoint> failedAt;
    std::uint32_t restarts = 0;
    std::string runtimeId;
    std::string specHash;
    std::optional<std::int64_t> outageStart;   // unix ms
    std::optional<std::size_t> failureEvent;   // sequence number of the Failed event of the open outage
  };
  void append(TimelineEvent event);
  TimelineEvent* bySequence(std::size_t sequence);

  std::size_t capacity_;
  std::deque<TimelineEvent> events_;
  std::size_t dropped_ = 0;  // events dropped from the front: sequence = dropped_ + index
  std::map<std::string, Seen> seen_;
  bool first_ = true;
};

}  // namespace ringlb::op
