#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/operator/kubernetes_watch_parser.h"

namespace ringlb::op {

struct ListWatchOptions {
  std::string path;           // collection, e.g. "/api/v1/pods" or "/api/v1/namespaces/ns/pods"
  std::string labelSelector;  // optional
  std::uint32_t pageSize = 500;
  std::chrono::seconds minWatchTimeout{300};  // the server-side timeoutSeconds is drawn from [min, max]
  std::chrono::seconds maxWatchTimeout{600};
  std::chrono::milliseconds idleTimeout{120'000};  // client side: a silent watch is reopened
  std::chrono::milliseconds initialBackoff{200};
  std::chrono::milliseconds maxBackoff{30'000};
};

/// Keeps a cache of one collection current: list (paged, with `limit` and
/// `continue`), then watch from the list's resourceVersion with bookmarks.
/// 410 Gone (HTTP status or an in-stream ERROR) relists and emits the
/// difference between the relist and the cache, so no change is lost. A clean
/// end of stream re-watches from the last resourceVersion; errors back off
/// exponentially with a cap. Handlers run on the watcher's thread.
class ListWatcher {
 public:
  enum class EventType : std::uint8_t { Added, Modified, Deleted };

  struct Handler {
    std::function<void(EventType, const nlohmann::json& object)> onEvent;
    std::function<void()> onSynced;                         // once, after the first list was delivered
    std::function<void(const std::string& error)> onError;  // optional: transport and protocol errors
  };

  /// How one watch request ended.
  // Gone: the resourceVersion expired (410). Refused: the server ended the watch with any other
  // ERROR event; its resourceVersion may be unusable too (etcd answers 500 just below a compaction),
  // so both relist, as client-go's reflector does.
  enum class WatchEnd : std::uint8_t { Clean, Gone, Refused, Stopped };

  ListWatcher(KubernetesApi& api, ListWatchOptions options, Handler handler,
              std::uint64_t seed = std::random_device{}());
  ~ListWatcher();
  ListWatcher(const ListWatcher&) = delete;
  ListWatcher& operator=(const ListWatcher&) = delete;

  /// Starts the list-watch thread. Call once.
  void start();

  /// Stops the thread and any open watch; no handler runs after it returns.
  /// Final: the watcher cannot be restarted.
  void stop();

  /// Lists the whole collection, emits its difference from the cache (in key
  /// order) and replaces the cache. Runs on the caller's thread.
  Status relist();

  /// Opens one watch from the current resourceVersion and applies its events
  /// until the stream ends. Runs on the caller's thread.
  Result<WatchEnd> watchOnce();

  /// True once the first list has been delivered. Thread-safe.
  bool synced() const noexcept { return synced_.load(); }

  /// The cached object with key "namespace/name" (or "name"). Thread-safe.
  std::optional<nlohmann::json> get(const std::string& key) const;

  /// Every cached object, in key order. Thread-safe.
  std::vector<nlohmann::json> snapshot() const;

  /// Last resourceVersion seen (list, event or bookmark). Thread-safe.
  std::string resourceVersion() const;

  /// The watch target the next watchOnce() sends (for tests and logs).
  std::string watchTarget(std::chrono::seconds timeout) const;

  /// "namespace/name" of an object, or "name" when it has no namespace.
  static std::string keyOf(const nlohmann::json& object);

 private:
  void run();
  bool sleepFor(std::chrono::milliseconds duration);
  std::chrono::milliseconds nextBackoff();
  void apply(EventType type, const nlohmann::json& object);
  void setResourceVersion(const nlohmann::json& object);
  void reportError(const std::string& error);

  KubernetesApi& api_;
  const ListWatchOptions options_;
  const Handler handler_;

  mutable std::mutex mutex_;  // cache_ and resourceVersion_
  std::map<std::string, nlohmann::json> cache_;
  std::string resourceVersion_;

  std::atomic<bool> synced_{false};
  std::mt19937_64 random_;
  std::chrono::milliseconds backoff_{0};

  std::mutex stopMutex_;
  std::condition_variable stopCv_;
  bool stopping_ = false;
  StreamCancel cancel_;
  std::thread thread_;
};

}  // namespace ringlb::op
