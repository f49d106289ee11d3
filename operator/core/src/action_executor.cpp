#include "ringlb/operator/action_executor.h"

namespace ringlb::op {

ActionOutcome ActionExecutor::execute(const std::string& ringName, const Action& action) {
  ActionOutcome outcome;
  const auto fail = [&outcome](std::string error) {
    outcome.ok = false;
    outcome.error = std::move(error);
    return outcome;
  };
  switch (action.kind) {
    case Action::Kind::Start: {
      auto started = runtime_.ensureRunning(action.spec);
      if (!started) return fail(started.error());
      outcome.replica = std::move(started).value();
      return outcome;
    }
    case Action::Kind::Restart: {
      if (auto stopped = runtime_.stop(ringName, action.slot, action.grace); !stopped) {
        return fail("stop: " + stopped.error());
      }
      auto started = runtime_.ensureRunning(action.spec);
      if (!started) return fail(started.error());
      outcome.replica = std::move(started).value();
      return outcome;
    }
    case Action::Kind::Stop: {
      if (auto stopped = runtime_.stop(ringName, action.slot, action.grace); !stopped) return fail(stopped.error());
      return outcome;
    }
    case Action::Kind::Adopt:
    case Action::Kind::BeginDrain:
    case Action::Kind::CancelDrain:
    case Action::Kind::Unpublish: return outcome;
  }
  return outcome;
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
      if (!outcome.ok) {
        record.running = false;
        record.state = ReplicaState::Stopped;
        record.address.clear();
        record.runtimeId.clear();
        recordFailure(record, "start failed: " + outcome.error, now, options.stableAfter);
        return;
      }
      recordStarted(record, *outcome.replica, now);
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
      if (outcome.ok) {
        records.erase(action.slot);
      } else if (const auto it = records.find(action.slot); it != records.end()) {
        it->second.lastFailure = "stop failed: " + outcome.error;
      }
      return;
    }
    case Action::Kind::Unpublish: return;
  }
}

}  // namespace ringlb::op
