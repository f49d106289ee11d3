#include "ringlb/operator/replica_record.h"

namespace ringlb::op {

void recordStarted(ReplicaRecord& record, const ReplicaInfo& info, Clock::TimePoint now) {
  record.state = ReplicaState::Starting;
  record.running = info.running;
  record.failed = false;
  record.address = info.address;
  record.runtimeId = info.runtimeId;
  record.specHash = info.specHash;
  record.startedAt = now;
  record.readySince.reset();
  record.drainSince.reset();
  record.consecutiveFailures = 0;
  record.consecutiveSuccesses = 0;
  record.healthy = false;
}

void recordFailure(ReplicaRecord& record, std::string_view reason, Clock::TimePoint now, Clock::Duration stableAfter) {
  if (record.readySince && now - *record.readySince >= stableAfter) record.crashCount = 0;
  ++record.crashCount;
  record.failed = true;
  record.failedAt = now;
  if (!record.absentSince) record.absentSince = now;
  record.lastFailure = std::string(reason);
  record.readySince.reset();
  record.healthy = false;
}

bool recordProbe(ReplicaRecord& record, const HealthCheck& check, bool success, std::string_view detail,
                 Clock::TimePoint now, Clock::Duration stableAfter) {
  if (!record.running || record.failed) return false;
  const ReplicaState before = record.state;
  if (success) {
    record.consecutiveFailures = 0;
    ++record.consecutiveSuccesses;
    if (record.consecutiveSuccesses >= check.successThreshold) {
      record.healthy = true;
      if (record.state == ReplicaState::Starting || record.state == ReplicaState::NotReady) {
        record.state = ReplicaState::Ready;
        record.readySince = now;
        record.absentSince.reset();
      }
    }
  } else {
    record.consecutiveSuccesses = 0;
    ++record.consecutiveFailures;
    // While Starting, the threshold is measured in time (interval × threshold
    // since the start): Starting replicas are probed faster than the interval,
    // and a slow start must not count as a failure sooner than it would at
    // the configured cadence.
    const bool startupOver = record.state != ReplicaState::Starting || !record.startedAt ||
                             now - *record.startedAt >= std::chrono::seconds(check.intervalSeconds) * check.failureThreshold;
    if (record.consecutiveFailures >= check.failureThreshold && startupOver) {
      record.healthy = false;
      // A draining replica is on its way out; its failures do not replace it.
      if (record.state == ReplicaState::Ready || record.state == ReplicaState::Starting) {
        record.state = ReplicaState::NotReady;
        recordFailure(record,
                      "heartbeat failed " + std::to_string(record.consecutiveFailures) + " times: " + std::string(detail),
                      now, stableAfter);
      }
    }
  }
  return record.state != before;
}

bool recordExit(ReplicaRecord& record, std::string_view reason, Clock::TimePoint now, Clock::Duration stableAfter) {
  if (!record.running) return false;
  record.running = false;
  record.consecutiveSuccesses = 0;
  if (record.state == ReplicaState::Draining) {
    record.lastFailure = "exited while draining: " + std::string(reason);
    return true;
  }
  record.state = ReplicaState::Stopped;
  if (record.failed) return true;  // already counted when its heartbeat failed
  recordFailure(record, "exited: " + std::string(reason), now, stableAfter);
  return true;
}

}  // namespace ringlb::op
