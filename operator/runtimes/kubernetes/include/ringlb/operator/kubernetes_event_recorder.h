#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "ringlb/operator/clock.h"
#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/operator/token_bucket.h"

namespace ringlb::op {

/// The object an Event is about.
struct ObjectReference {
  std::string apiVersion;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string uid;
};

/// Records events.k8s.io/v1 Events for notable actions. Rate-limited (a token
/// bucket) and de-duplicated (the same object, reason and note at most once
/// per window), so a crash-looping replica cannot flood the API server.
/// Posting happens on the recorder's own thread; record() never blocks on I/O.
class KubernetesEventRecorder {
 public:
  struct Options {
    std::string reportingController = "ringlb.dev/operator";
    std::string reportingInstance;
    double ratePerSecond = 0.5;
    double burst = 20;
    std::chrono::seconds dedupeWindow{60};
    std::size_t maxQueued = 100;
  };

  KubernetesEventRecorder(KubernetesApi& api, const Clock& clock, Options options);
  ~KubernetesEventRecorder();
  KubernetesEventRecorder(const KubernetesEventRecorder&) = delete;
  KubernetesEventRecorder& operator=(const KubernetesEventRecorder&) = delete;

  /// Queues an Event ("Normal" or "Warning"; reason CamelCase; action what
  /// the operator did). Returns false when it was dropped by the rate limit,
  /// the de-duplication window or a full queue. Thread-safe.
  bool record(const ObjectReference& regarding, std::string_view type, std::string_view reason,
              std::string_view action, std::string_view note);

  /// The Event object record() would post (for tests). Pure.
  nlohmann::json buildEvent(const ObjectReference& regarding, std::string_view type, std::string_view reason,
                            std::string_view action, std::string_view note,
                            std::chrono::system_clock::time_point when) const;

  /// Posts what is queued and stops the thread.
  void stop();

 private:
  void run();

  KubernetesApi& api_;
  const Clock& clock_;
  const Options options_;

  std::mutex mutex_;
  std::condition_variable cv_;
  TokenBucket bucket_;
  std::map<std::string, Clock::TimePoint> recent_;  // dedupe key -> last recorded
  std::deque<std::pair<std::string, nlohmann::json>> queue_;  // namespace, event
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ringlb::op
