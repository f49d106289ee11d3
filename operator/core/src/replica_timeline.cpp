#include "ringlb/operator/replica_timeline.h"

#include <algorithm>

namespace ringlb::op {

std::string_view toString(TimelineEvent::Kind kind) {
  switch (kind) {
    case TimelineEvent::Kind::Added: return "added";
    case TimelineEvent::Kind::Removed: return "removed";
    case TimelineEvent::Kind::Failed: return "failed";
    case TimelineEvent::Kind::Replaced: return "replaced";
    case TimelineEvent::Kind::RolledOut: return "rolled out";
    case TimelineEvent::Kind::Recovered: return "recovered";
  }
  return "unknown";
}

namespace {

std::int64_t toUnixMillis(Clock::TimePoint at, Clock::TimePoint now, std::int64_t unixMillisNow) {
  return unixMillisNow - std::chrono::duration_cast<std::chrono::milliseconds>(now - at).count();
}

}  // namespace

void ReplicaTimeline::append(TimelineEvent event) {
  events_.push_back(std::move(event));
  while (events_.size() > capacity_) {
    events_.pop_front();
    ++dropped_;
  }
}

TimelineEvent* ReplicaTimeline::bySequence(std::size_t sequence) {
  if (sequence < dropped_ || sequence - dropped_ >= events_.size()) return nullptr;
  return &events_[sequence - dropped_];
}

void ReplicaTimeline::observe(const std::map<std::string, ReplicaRecord>& records, Clock::TimePoint now,
                              std::int64_t unixMillisNow) {
  using Kind = TimelineEvent::Kind;
  for (const auto& [slot, record] : records) {
    auto it = seen_.find(slot);
    if (it == seen_.end()) {
      // The first observation is the operator's starting point (an adoption
      // after a restart included): slots seen then were not "added".
      if (!first_) append({unixMillisNow, slot, Kind::Added, "scaled up: slot added", std::nullopt});
      it = seen_.emplace(slot, Seen{std::nullopt, record.restarts, record.runtimeId, record.specHash, {}, {}}).first;
      if (first_) it->second.failedAt = record.failedAt;
    }
    Seen& seen = it->second;
    if (record.failedAt && record.failedAt != seen.failedAt) {
      const std::int64_t at = toUnixMillis(*record.failedAt, now, unixMillisNow);
      if (!seen.outageStart) seen.outageStart = at;
      seen.failureEvent = dropped_ + events_.size();
      append({at, slot, Kind::Failed, record.lastFailure, std::nullopt});
    }
    if (record.restarts > seen.restarts) {
      append({unixMillisNow, slot, Kind::Replaced,
              "restart " + std::to_string(record.restarts) + ", now " + record.runtimeId, std::nullopt});
    } else if (!seen.runtimeId.empty() && record.runtimeId != seen.runtimeId && !record.runtimeId.empty() &&
               record.specHash != seen.specHash) {
      append({unixMillisNow, slot, Kind::RolledOut, "new template, now " + record.runtimeId, std::nullopt});
    }
    if (seen.outageStart && record.state == ReplicaState::Ready && record.readySince) {
      const std::int64_t readyAt = toUnixMillis(*record.readySince, now, unixMillisNow);
      if (readyAt >= *seen.outageStart) {
        const std::int64_t length = readyAt - *seen.outageStart;
        if (seen.failureEvent) {
          if (TimelineEvent* failed = bySequence(*seen.failureEvent)) failed->outageMillis = length;
        }
        append({readyAt, slot, Kind::Recovered, "Ready again", length});
        seen.outageStart.reset();
        seen.failureEvent.reset();
      }
    }
    seen.failedAt = record.failedAt;
    seen.restarts = record.restarts;
    seen.runtimeId = record.runtimeId;
    seen.specHash = record.specHash;
  }
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (records.count(it->first) == 0) {
      append({unixMillisNow, it->first, Kind::Removed, "scaled down: slot removed", std::nullopt});
      it = seen_.erase(it);
    } else {
      ++it;
    }
  }
  first_ = false;
}

std::size_t ReplicaTimeline::failuresSince(const std::string& member, std::int64_t sinceUnixMillis) const {
  return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(), [&](const TimelineEvent& event) {
    return event.member == member && event.kind == TimelineEvent::Kind::Failed && event.unixMillis >= sinceUnixMillis;
  }));
}

std::optional<std::int64_t> ReplicaTimeline::outageSince(const std::string& member) const {
  const auto it = seen_.find(member);
  if (it == seen_.end()) return std::nullopt;
  return it->second.outageStart;
}

}  // namespace ringlb::op
