#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/operator/kubernetes_event_recorder.h"
#include "ringlb/operator/kubernetes_list_watcher.h"
#include "ringlb/operator/kubernetes_pod_manifest.h"
#include "ringlb/operator/runtime.h"
#include "ringlb/operator/terminating_pod.h"

namespace ringlb::op {

struct KubernetesRuntimeOptions {
  std::vector<std::string> watchNamespaces;  // empty: Pods of every namespace
  std::chrono::milliseconds watchIdleTimeout{120'000};
  // A Pod still there this long past its deletionTimestamp (which already
  // includes its grace period) is force-deleted: its kubelet is not coming back.
  std::chrono::seconds stuckTerminationAfter{15};
  // How long a replica stays bound to a node that stopped reporting before the
  // taint manager evicts it (its unreachable/not-ready toleration).
  std::chrono::seconds lostNodeToleration{30};
  // Compared with the API server's deletionTimestamps; injected by tests.
  std::function<std::chrono::system_clock::time_point()> wallClock = [] { return std::chrono::system_clock::now(); };
};

/// Runtime on Kubernetes: one Pod per slot, named after the slot
/// ("<ring>-<ordinal>") in the HashRing's namespace, server-side applied and
/// owned by the HashRing. A Pod that failed, was deleted, or runs an older
/// spec hash is deleted and recreated under the same name; one stuck
/// terminating (its Node lost, or past its deletionTimestamp by
/// stuckTerminationAfter) is force-deleted and recreated at once. A Pod counts as
/// running while it exists, is not terminating and has not failed; its
/// readiness (condition Ready=True) is reported separately. Pods are watched
/// by label, and lifecycle changes are reported as RuntimeEvents.
class KubernetesRuntime final : public Runtime {
 public:
  /// Finds the HashRing that owns a slot (its uid and health check). When it
  /// returns nothing the runtime reads the HashRing from the API.
  using OwnerLookup = std::function<std::optional<PodOwner>(const std::string& ns, const std::string& ring)>;

  KubernetesRuntime(KubernetesApi& api, KubernetesRuntimeOptions options, OwnerLookup owners = {},
                    KubernetesEventRecorder* recorder = nullptr);
  ~KubernetesRuntime() override;

  std::string_view name() const noexcept override { return "kubernetes"; }
  Result<ReplicaInfo> ensureRunning(const ReplicaSpec& spec) override;
  Status stop(const std::string& ring, const std::string& slot, std::chrono::seconds grace) override;
  Result<std::vector<ReplicaInfo>> list() override;
  void onEvent(EventHandler handler) override;
  /// Applies the ring's PodDisruptionBudget (named after the ring) when it is
  /// missing or differs, and deletes the one it manages when the policy wants
  /// none. Reads it first, so a ring at rest makes no writes, and one deleted
  /// by hand is restored on the next reconcile. A refused write (RBAC, an
  /// invalid budget) is returned and recorded as a Warning Event.
  Status applyRingPolicy(const RingPolicy& policy) override;

  /// Starts the Pod watch (onEvent() starts it too). Idempotent.
  void start();

  /// Stops the Pod watch; no event is reported after it returns.
  void shutdown() override;

  /// True once the first Pod list has been loaded.
  bool synced() const;

  /// Whether the Pod in `slot` of `ring` is Ready (condition Ready=True, no
  /// deletionTimestamp). Thread-safe.
  bool podReady(const std::string& ring, const std::string& slot) const;

  /// The ReplicaInfo a Pod object maps to (for tests).
  static ReplicaInfo replicaInfo(const PodView& view);

 private:
  Result<std::optional<nlohmann::json>> findPod(const std::string& ns, const std::string& name);
  Result<PodOwner> ownerOf(const std::string& ns, const std::string& ring);
  /// For a live Pod: recreates a finished one, replaces one of another spec
  /// hash, else adopts it.
  Result<ReplicaInfo> keepOrReplace(const ReplicaSpec& spec, const PodView& view);
  /// Force-deletes a terminating Pod that judgeTerminatingPod() gives up on
  /// (with an Event); true if it did, so the slot can be recreated at once.
  Result<bool> forceDeleteIfStuck(const ReplicaSpec& spec, const nlohmann::json& pod, const PodView& view);
  /// Records a Warning Event for a refused budget write (not for a conflict
  /// or a throttled call, which are retried quietly); returns `error`.
  Error budgetFailed(const RingPolicy& policy, std::string_view action, Error error);
  NodeHealth nodeHealthOf(const std::string& nodeName);
  Status deletePod(const std::string& ns, const std::string& name, const std::string& uid,
                   std::optional<std::chrono::seconds> grace);
  void handlePodEvent(ListWatcher::EventType type, const nlohmann::json& pod);
  void recordEvent(const std::string& ns, const std::string& ring, std::string_view type, std::string_view reason,
                   std::string_view action, const std::string& note);
  std::vector<PodView> podsOf(const std::string& ring, const std::string& slot) const;
  bool syncedLocked() const;

  KubernetesApi& api_;
  const KubernetesRuntimeOptions options_;
  const OwnerLookup owners_;
  KubernetesEventRecorder* recorder_;

  mutable std::mutex mutex_;
  std::mutex handlerMutex_;  // held while handler_ runs, so detaching waits out a call in flight
  EventHandler handler_;
  std::map<std::string, nlohmann::json> pods_;  // "namespace/name" -> Pod, from the watch and our own writes
  std::map<std::string, PodView> seen_;        // last view per Pod, to report transitions
  std::vector<std::unique_ptr<ListWatcher>> watchers_;  // one per watched namespace (or one for all)
};

}  // namespace ringlb::op
