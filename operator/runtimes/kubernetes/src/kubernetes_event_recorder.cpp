#include "ringlb/operator/kubernetes_event_recorder.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "ringlb/operator/kubernetes_status.h"

namespace ringlb::op {

namespace {

std::string eventName(const std::string& object, std::chrono::system_clock::time_point when) {
  static std::atomic<std::uint32_t> sequence{0};
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%llx%04x", static_cast<unsigned long long>(nanos),
                static_cast<unsigned>(sequence.fetch_add(1) & 0xFFFF));
  return object.substr(0, 200) + suffix;
}

}  // namespace

KubernetesEventRecorder::KubernetesEventRecorder(KubernetesApi& api, const Clock& clock, Options options)
    : api_(api), clock_(clock), options_(std::move(options)), bucket_(options_.ratePerSecond, options_.burst) {
  thread_ = std::thread([this] { run(); });
}

KubernetesEventRecorder::~KubernetesEventRecorder() { stop(); }

nlohmann::json KubernetesEventRecorder::buildEvent(const ObjectReference& regarding, std::string_view type,
                                                   std::string_view reason, std::string_view action,
                                                   std::string_view note,
                                                   std::chrono::system_clock::time_point when) const {
  nlohmann::json ref = {{"apiVersion", regarding.apiVersion},
                        {"kind", regarding.kind},
                        {"name", regarding.name},
                        {"namespace", regarding.namespace_}};
  if (!regarding.uid.empty()) ref["uid"] = regarding.uid;
  return {{"apiVersion", "events.k8s.io/v1"},
          {"kind", "Event"},
          {"metadata", {{"name", eventName(regarding.name, when)}, {"namespace", regarding.namespace_}}},
          {"eventTime", formatRfc3339(when, /*micro=*/true)},
          {"reportingController", options_.reportingController},
          {"reportingInstance", options_.reportingInstance},
          {"action", std::string(action)},
          {"reason", std::string(reason)},
          {"note", std::string(note.substr(0, 1024))},
          {"type", std::string(type)},
          {"regarding", std::move(ref)}};
}

bool KubernetesEventRecorder::record(const ObjectReference& regarding, std::string_view type,
                                     std::string_view reason, std::string_view action, std::string_view note) {
  const auto now = clock_.now();
  const std::string dedupeKey = regarding.namespace_ + "/" + regarding.kind + "/" + regarding.name + "|" +
                                std::string(reason) + "|" + std::string(note);
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  for (auto it = recent_.begin(); it != recent_.end();) {
    it = now - it->second >= options_.dedupeWindow ? recent_.erase(it) : std::next(it);
  }
  if (recent_.contains(dedupeKey)) return false;
  if (queue_.size() >= options_.maxQueued) return false;
  if (!bucket_.tryTake(now)) return false;
  recent_[dedupeKey] = now;
  queue_.emplace_back(regarding.namespace_,
                      buildEvent(regarding, type, reason, action, note, std::chrono::system_clock::now()));
  cv_.notify_one();
  return true;
}

void KubernetesEventRecorder::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KubernetesEventRecorder::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    auto [ns, event] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const std::string target = "/apis/events.k8s.io/v1/namespaces/" + ns + "/events";
    auto response = api_.request("POST", target, event.dump(), "application/json");
    // Events are best effort: a failure is worth a debug line, never a retry storm.
    if (!response) {
      spdlog::debug("event {}: {}", event["reason"].get<std::string>(), response.error());
    } else if (!response->success()) {
      spdlog::debug("event {}: HTTP {}", event["reason"].get<std::string>(), response->status);
    }
    lock.lock();
  }
}

}  // namespace ringlb::op
