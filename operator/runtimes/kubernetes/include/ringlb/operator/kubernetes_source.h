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
#include "ringlb/operator/resource_source.h"

namespace ringlb::op {

struct KubernetesSourceOptions {
  std::vector<std::string> watchNamespaces;  // empty: HashRings of every namespace
  std::chrono::milliseconds watchIdleTimeout{120'000};
};

/// ResourceSource over the Kubernetes API: list-watches HashRings and writes
/// their status by server-side apply to the status subresource. Only spec
/// changes (a new uid, generation or spec) reach the handler: status writes,
/// ours or anyone's, never requeue. Status writes that change nothing are
/// skipped; conditions keep their lastTransitionTime while their status holds.
class KubernetesSource final : public ResourceSource {
 public:
  /// Turns a HashRing object into the model, validating its spec; the Error
  /// names the object and field. The operator passes its resource parser, so
  /// a file and a custom resource validate alike.
  using Parser = std::function<Result<HashRing>(const nlohmann::json& object)>;
  using WallClock = std::function<std::chrono::system_clock::time_point()>;

  KubernetesSource(KubernetesApi& api, KubernetesSourceOptions options, Parser parser = &KubernetesSource::parseObject,
                   WallClock wallClock = [] { return std::chrono::system_clock::now(); });
  ~KubernetesSource() override;

  /// The operator's resource parser applied to an API object, so a custom
  /// resource validates exactly as a file does.
  static Result<HashRing> parseObject(const nlohmann::json& object);

  /// Starts the watch; when it already runs (startObserving()), first replays
  /// every known ring to `handler`.
  void start(EventHandler handler) override;

  /// Starts the watch for onObserved() only (a follower: no reconciling).
  void startObserving();
  void stop() override;
  Status writeStatus(const HashRing& ring, const HashRingStatus& status) override;

  /// Records a Warning Event (InvalidSpec) on each HashRing whose spec is
  /// invalid, while reconciling (after start()). Set before start(); the
  /// recorder outlives the source.
  void recordEventsWith(KubernetesEventRecorder* recorder);

  /// Receives every change including status-only ones, with `ring->status`
  /// as observed: a follower serves the ring from it. Set before start().
  void onObserved(EventHandler observer);

  /// The last valid ring seen under `key` ("namespace/name"), with its
  /// observed status. Thread-safe.
  std::optional<HashRing> find(const std::string& key) const;

  /// The HashRing that owns Pods of ring `name` in `ns` (for the runtime).
  std::optional<PodOwner> owner(const std::string& ns, const std::string& name) const;

  /// True once the first list has been delivered.
  bool synced() const;

 private:
  struct Entry {
    std::string uid;
    std::int64_t generation = 0;
    nlohmann::json spec;
    std::optional<HashRing> ring;      // last valid parse
    std::string error;                 // the parse error while the current spec is invalid
    nlohmann::json observedStatus;     // normalized .status as last seen
    std::string resourceVersion;
    std::optional<nlohmann::json> lastWritten;  // normalized status we last applied
    std::string lastWrittenVersion;
  };

  void handle(ListWatcher::EventType type, const nlohmann::json& object);
  ResourceEvent invalidEventLocked(const std::string& key, const Entry& entry) const;
  void recordInvalid(const ResourceEvent& event);
  void startWatchLocked();

  KubernetesApi& api_;
  const KubernetesSourceOptions options_;
  const Parser parser_;
  const WallClock wallClock_;

  std::mutex dispatchMutex_;  // orders handler calls: a replay never interleaves with live events
  mutable std::mutex mutex_;
  EventHandler handler_;
  EventHandler observer_;
  KubernetesEventRecorder* recorder_ = nullptr;
  std::map<std::string, Entry> entries_;
  std::vector<std::unique_ptr<ListWatcher>> watchers_;  // one per watched namespace (or one for all)
};

}  // namespace ringlb::op
