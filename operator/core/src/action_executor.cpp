#include "ringlb/operator/action_executor.h"

namespace ringlb::op {

namespace {

ActionOutcome startedReplica(Result<ReplicaInfo> started) {
  if (!started) return std::move(started).failure();
  return std::optional<ReplicaInfo>(std::move(started).value());
}

}  // namespace

ActionOutcome ActionExecutor::execute(const std::string& ringName, const Action& action) {
  switch (action.kind) {
    case Action::Kind::Start: return startedReplica(runtime_.ensureRunning(action.spec));
    case Action::Kind::Restart: {
      if (auto stopped = runtime_.stop(ringName, action.slot, action.grace); !stopped) {
        return stopped.failure().withContext("stop");
      }
      return startedReplica(runtime_.ensureRunning(action.spec));
    }
    case Action::Kind::Stop: {
      if (auto stopped = runtime_.stop(ringName, action.slot, action.grace); !stopped) return stopped.failure();
      return std::optional<ReplicaInfo>();
    }
    case Action::Kind::Adopt:
    case Action::Kind::BeginDrain:
    case Action::Kind::CancelDrain:
    case Action::Kind::Unpublish: return std::optional<ReplicaInfo>();
  }
  return std::optional<ReplicaInfo>();
}

void applyOutcome(std::map<std::string, ReplicaRecord>& records, const Action& action, const ActionOutcome& outcome,
                  Clock::TimePoint now, const ReconcileOptions& options) {
  switch (action.kind) {
    case Action::Kind::Adopt: {
      ReplicaRecord record;
      record.slot = action.slot;
      record.ordinal = action.ordinal;
      recordStarted(record, action.adopted, now);
      record.state = action.adoptedState;
      if (action.adoptedState == ReplicaState::Ready) {
        record.healthy = true;
        record.readySince = now;
      } else if (action.adoptedState == ReplicaState::Draining) {
        record.healthy = true;
        record.drainSince = now;
      } else if (!action.adopted.running) {
        record.state = ReplicaState::Stopped;
        recordFailure(record, action.adopted.reason.empty() ? "exited while the operator was away" : action.adopted.reason,
                      now, options.stableAfter);
      }
      records[action.slot] = std::move(record);
      return;
    }
    case Action::Kind::Start:
    case Action::Kind::Restart: {
      ReplicaRecord& record = records[action.slot];
      record.slot = action.slot;
      record.ordinal = action.ordinal;
      if (action.kind == Action::Kind::Restart && action.countsAsRestart) ++record.restarts;
      if (!outcome) {
        record.running = false;
        record.state = ReplicaState::Stopped;
        record.address.clear();
        record.runtimeId.clear();
        recordFailure(record, "start failed: " + outcome.error(), now, options.stableAfter);
        return;
      }
      recordStarted(record, *outcome.value(), now);
      return;
    }
    case Action::Kind::BeginDrain: {
      const auto it = records.find(action.slot);
      if (it == records.end()) return;
      it->second.state = ReplicaState::Draining;
      it->second.drainSince = now;
      return;
    }
    case Action::Kind::CancelDrain: {
      const auto it = records.find(action.slot);
      if (it == records.end()) return;
      it->second.drainSince.reset();
      it->second.state = it->second.healthy ? ReplicaState::Ready : ReplicaState::Starting;
      if (it->second.healthy) it->second.readySince = now;
      return;
    }
    case Action::Kind::Stop: {
      if (outcome) {
        records.erase(action.slot);
      } else if (const auto it = records.find(action.slot); it != records.end()) {
        it->second.lastFailure = "stop failed: " + outcome.error();
      }
      return;
    }
    case Action::Kind::Unpublish: return;
  }
}

}  // namespace ringlb::op
