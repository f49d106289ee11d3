#pragma once

#include <map>
#include <string>

#include "ringlb/operator/action.h"
#include "ringlb/operator/clock.h"
#include "ringlb/operator/reconcile_plan.h"
#include "ringlb/operator/replica_record.h"
#include "ringlb/operator/runtime.h"

namespace ringlb::op {

/// Applies plan actions through a Runtime. It performs the I/O only; the
/// records change in applyOutcome(), under the caller's lock.
class ActionExecutor {
 public:
  explicit ActionExecutor(Runtime& runtime) : runtime_(runtime) {}

  /// Runs the runtime part of `action` for ring `ringName` (Start,
  /// Restart, Stop); the other kinds need no I/O and succeed. May block for
  /// one runtime call (a stop waits up to its grace). Thread-safe.
  ActionOutcome execute(const std::string& ringName, const Action& action);

 private:
  Runtime& runtime_;
};

/// Records what an executed action did in the ring's records (keyed by slot).
/// Pure; the caller serializes access to `records`.
void applyOutcome(std::map<std::string, ReplicaRecord>& records, const Action& action, const ActionOutcome& outcome,
                  Clock::TimePoint now, const ReconcileOptions& options);

}  // namespace ringlb::op
