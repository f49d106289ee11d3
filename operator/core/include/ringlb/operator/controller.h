#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/action_executor.h"
#include "ringlb/operator/clock.h"
#include "ringlb/operator/desired_state.h"
#include "ringlb/operator/heartbeat_prober.h"
#include "ringlb/operator/operator_metrics.h"
#include "ringlb/operator/reconcile_plan.h"
#include "ringlb/operator/replica_record.h"
#include "ringlb/operator/replica_timeline.h"
#include "ringlb/operator/resource_source.h"
#include "ringlb/operator/ring_registry.h"
#include "ringlb/operator/runtime.h"
#include "ringlb/operator/status_writer.h"
#include "ringlb/operator/work_queue.h"
#include "ringlb/ring/ring_spec.h"

namespace ringlb::op {

struct ControllerOptions {
  ReconcileOptions reconcile;
  std::chrono::seconds resync{10};  // every ring is reconciled and the runtime re-listed this often
  unsigned workers = 2;             // rings reconciled in parallel (one ring never on two workers)
  WorkQueue::Options queue;
  // Standalone the resources are the operator's own configuration, so a bad
  // one makes it unready; in Kubernetes each HashRing is its owner's business:
  // it is reported on that HashRing (Degraded) and the operator stays ready.
  bool invalidResourceMakesUnready = true;
};

/// The HashRing controller. Resource events, runtime events, heartbeat
/// results and a resync timer feed a de-duplicating work queue keyed by ring;
/// workers run plan() on a snapshot of desired and observed state and apply
/// the actions through the ActionExecutor. Every change of a replica's state
/// is published to the RingRegistry at once (a death makes the member
/// NotReady before the reconcile that replaces it). Thread-safe.
///
/// State changes are computed under one lock; the I/O they lead to happens
/// outside it. A ring is published (persisted to disk) by the thread that
/// changed it, after the lock is released, and a write computed earlier never
/// overtakes one computed later. Statuses go to a StatusWriter, whose thread
/// alone waits on the API server.
class Controller {
 public:
  Controller(ResourceSource& source, Runtime& runtime, RingRegistry& registry, HeartbeatProber& prober,
             OperatorMetrics& metrics, const Clock& clock, ControllerOptions options);
  ~Controller();

  /// Lists what the runtime already runs (for adoption), loads the resources
  /// and starts the workers. Returns an Error when the runtime cannot list.
  Status start();

  /// Stops the source and the workers; with `stopReplicas`, then stops every
  /// replica the runtime runs (in parallel, each with the stop grace).
  void shutdown(bool stopReplicas);

  /// A heartbeat result (from the prober's thread).
  void onProbeResult(const ProbeResult& result);

  /// Rings, members, conditions, versions and resource errors (the status
  /// page). Thread-safe; never waits on I/O.
  nlohmann::json statusJson() const;

  /// Ready once the resources were read and (with
  /// invalidResourceMakesUnready) none is invalid: the explanation ("ready",
  /// listing invalid resources when they do not count); otherwise an
  /// Unavailable Error that lists the resource errors. Thread-safe; never
  /// waits on I/O.
  Result<std::string> readiness() const;

  /// The status last computed for `key` (namespace/name); it reaches the
  /// source shortly after. Thread-safe.
  std::optional<HashRingStatus> status(const std::string& key) const;

 private:
  struct RingState {
    std::string name;
    std::map<std::string, ReplicaRecord> records;  // by slot
    std::vector<ReplicaInfo> unclaimed;            // listed by the runtime, not yet adopted
    std::optional<std::string> policyError;        // the last applyRingPolicy() failure, until one succeeds
    HashRingStatus status;
    ReplicaTimeline timeline;                      // failures, replacements, scale and rollout steps
  };

  /// A ring change computed under the lock, to be written after it: the
  /// ring to publish, or its withdrawal. Carries the order it was computed in.
  struct RingWrite {
    std::string key;
    std::uint64_t sequence = 0;
    std::optional<ring::RingSpec> spec;  // nullopt and !withdraw: no valid resource, nothing to publish
    bool withdraw = false;
    // spec.rollout (paced): spec's rampPermille are goals, reached by nextRolloutStep().
    double pace = 0;
    Clock::Duration stepInterval{};
    std::set<std::string> rampFromZero;  // absent past slowStartAfterSeconds: ramps again as if new
  };

  void onResourceEvent(const ResourceEvent& event);
  void onRuntimeEvent(const RuntimeEvent& event);
  std::optional<RingWrite> recordExitLocked(const RuntimeEvent& event);
  std::optional<RingWrite> updateAddressLocked(const std::string& key, const std::string& slot,
                                               const std::string& runtimeId, const std::string& address);
  std::optional<RingWrite> recordProbeLocked(const ProbeResult& result);
  void workerLoop();
  void reconcile(const std::string& key);
  /// Applies the ring-level policy of `desired` through the runtime (no lock
  /// held) and records the outcome on the ring; false when it failed.
  bool applyRingPolicy(const std::string& key, const HashRing& desired);
  void resyncRuntime();
  std::vector<RingWrite> applyListingLocked(const std::vector<ReplicaInfo>& listed, Clock::TimePoint listedAt);
  RingState& ringLocked(const std::string& key);
  std::string keyForReplicaLocked(const std::string& ns, const std::string& name) const;
  RingWrite stageRingLocked(const std::string& key, const RingState& state);
  RingWrite stageWithdrawalLocked(const std::string& key);
  Status writeRing(const RingWrite& write);
  void commit(const RingWrite& write);
  void updateProbesLocked(const std::string& key, const RingState& state);
  void updateStatusLocked(const std::string& key, RingState& state);
  void onStatusWriteFailed(const std::string& key, const Error& error);
  void enqueueLocked(const std::string& key);

  ResourceSource& source_;
  Runtime& runtime_;
  RingRegistry& registry_;
  HeartbeatProber& prober_;
  OperatorMetrics& metrics_;
  const Clock& clock_;
  ControllerOptions options_;
  ActionExecutor executor_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  WorkQueue queue_;
  DesiredState desired_;
  std::map<std::string, RingState> rings_;  // by key
  std::set<std::string> expectedExits_;     // runtime ids being stopped on purpose
  bool initialSync_ = false;
  bool stopping_ = false;
  bool eventsAttached_ = false;  // start() gave the runtime our handler
  bool resyncRunning_ = false;
  Clock::TimePoint nextResync_{};
  std::uint64_t nextWriteSequence_ = 0;
  std::vector<std::thread> workers_;

  std::mutex ringWriteMutex_;                              // taken without mutex_, never with it
  std::map<std::string, std::uint64_t> writtenSequence_;  // by ring key: the last RingWrite that went out
  std::map<std::string, Clock::TimePoint> lastRampStep_;  // by ring key: when a ramp last moved
  std::map<std::string, Clock::TimePoint> nextRampStep_;  // by ring key: a paced rollout's next step is due
  StatusWriter statusWriter_;                             // last: its thread calls back into the members above
};

}  // namespace ringlb::op
