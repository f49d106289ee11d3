#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ringlb/operator/action.h"
#include "ringlb/operator/clock.h"
#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/replica_record.h"
#include "ringlb/operator/runtime.h"
#include "ringlb/ring/member.h"

namespace ringlb::op {

/// Tunables of the reconcile loop that are not part of the resource.
struct ReconcileOptions {
  std::chrono::milliseconds restartBackoffBase{1000};  // second consecutive crash waits this long, doubling after
  std::chrono::milliseconds restartBackoffCap{30000};
  std::chrono::seconds stableAfter{60};   // Ready this long resets the crash count
  std::chrono::seconds stopGrace{10};     // SIGTERM → SIGKILL for scale-down, rollout and deletion
  std::chrono::seconds failedStopGrace{2};  // for a replica that already failed its heartbeat
};

/// Everything plan() looks at for one HashRing.
struct PlanInput {
  std::optional<HashRing> desired;  // the last good spec; nullopt when deleted or never valid
  bool teardown = false;            // no desired state and the resource is really gone: stop everything
  std::vector<ReplicaRecord> replicas;  // slots the operator tracks
  std::vector<ReplicaInfo> unclaimed;   // replicas the runtime runs for this ring that no record tracks
  std::map<std::string, ring::MemberState> lastPublished;  // slot → state in the last published ring
  std::set<std::string> holdingKeys;  // slots whose ramp in the published ring is above 0
};

/// The actions for one pass, in the order to apply them, and when to look
/// again if nothing else happens first (backoff expiry, drain end).
struct Plan {
  std::vector<Action> actions;
  std::optional<Clock::TimePoint> requeueAt;
};

/// Level-triggered reconcile: compares desired with observed and returns the
/// steps to converge. Pure: no I/O, no clock reads; thread-safe.
///  - slots <name>-0 … <name>-(replicas−1) exist; missing ones are started;
///  - failed or exited replicas are restarted in their slot, the n-th
///    consecutive crash waiting restartDelay(n);
///  - a changed template rolls out one slot at a time, highest first, only
///    while every other slot is Ready; a Ready replica drains for
///    drainSeconds before it is replaced;
///  - slots past `replicas` drain (highest first) and are stopped after
///    drainSeconds; ones not serving are stopped at once; with a paced
///    spec.rollout a serving one first waits until its ramp is down to 0;
///  - replicas the runtime already runs are adopted before anything else.
Plan plan(const PlanInput& input, Clock::TimePoint now, const ReconcileOptions& options = {});

/// Delay before restarting a slot after its n-th consecutive crash: 0 for the
/// first, then base, 2·base, … up to the cap.
Clock::Duration restartDelay(std::uint32_t crashCount, const ReconcileOptions& options);

/// Stable hash of everything in a template that needs a new replica when it
/// changes (hex).
std::string templateHash(const ReplicaTemplate& templ);

/// The ReplicaSpec for `ordinal` of `ring`.
ReplicaSpec replicaSpecFor(const HashRing& ring, std::uint32_t ordinal);

/// Parses the ordinal out of "<ring>-<ordinal>"; nullopt for a foreign slot.
std::optional<std::uint32_t> ordinalOf(const std::string& ringName, const std::string& slot);

}  // namespace ringlb::op
