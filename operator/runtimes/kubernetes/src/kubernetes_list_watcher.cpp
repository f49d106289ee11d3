#include "ringlb/base/percent_encoding.h"
#include "ringlb/operator/kubernetes_list_watcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ringlb::op {

namespace {

using nlohmann::json;

std::string metadataString(const json& object, const char* field) {
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return {};
  const auto value = metadata->find(field);
  if (value == metadata->end() || !value->is_string()) return {};
  return value->get<std::string>();
}


}  // namespace

ListWatcher::ListWatcher(KubernetesApi& api, ListWatchOptions options, Handler handler, std::uint64_t seed)
    : api_(api), options_(std::move(options)), handler_(std::move(handler)), random_(seed) {}

ListWatcher::~ListWatcher() { stop(); }

std::string ListWatcher::keyOf(const json& object) {
  const std::string ns = metadataString(object, "namespace");
  const std::string name = metadataString(object, "name");
  return ns.empty() ? name : ns + "/" + name;
}

void ListWatcher::start() {
  thread_ = std::thread([this] { run(); });
}

void ListWatcher::stop() {
  {
    std::lock_guard lock(stopMutex_);
    stopping_ = true;
  }
  stopCv_.notify_all();
  cancel_.cancel();
  if (thread_.joinable()) thread_.join();
}

bool ListWatcher::sleepFor(std::chrono::milliseconds duration) {
  std::unique_lock lock(stopMutex_);
  return !stopCv_.wait_for(lock, duration, [this] { return stopping_; });
}

std::chrono::milliseconds ListWatcher::nextBackoff() {
  backoff_ = backoff_.count() == 0 ? options_.initialBackoff : std::min(backoff_ * 2, options_.maxBackoff);
  // Jitter in [backoff/2, backoff] so a fleet of operators does not retry in lockstep.
  std::uniform_int_distribution<std::int64_t> jitter(backoff_.count() / 2, backoff_.count());
  return std::chrono::milliseconds(jitter(random_));
}

void ListWatcher::reportError(const std::string& error) {
  if (handler_.onError) handler_.onError(error);
}

std::optional<json> ListWatcher::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> ListWatcher::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<json> out;
  out.reserve(cache_.size());
  for (const auto& [key, object] : cache_) out.push_back(object);
  return out;
}

std::string ListWatcher::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return resourceVersion_;
}

void ListWatcher::setResourceVersion(const json& object) {
  const std::string rv = metadataString(object, "resourceVersion");
  if (rv.empty()) return;
  std::lock_guard lock(mutex_);
  resourceVersion_ = rv;
}

Status ListWatcher::relist() {
  std::map<std::string, json> listed;
  std::string listVersion;
  std::string continueToken;
  for (;;) {
    std::string target = options_.path + "?limit=" + std::to_string(options_.pageSize);
    if (!options_.labelSelector.empty()) target += "&labelSelector=" + percentEncode(options_.labelSelector);
    if (!continueToken.empty()) target += "&continue=" + percentEncode(continueToken);
    auto response = api_.request("GET", target);
    if (!response) return response.failure().withContext("list " + options_.path);
    if (response->status == 410 && !continueToken.empty()) {
      // The continue token expired mid-list: start over from a fresh snapshot.
      listed.clear();
      continueToken.clear();
      listVersion.clear();
      continue;
    }
    if (!response->success()) {
      return apiError("list " + options_.path, response.value());
    }
    json page = json::parse(response->body, nullptr, false);
    if (!page.is_object()) return Error::unavailable("list " + options_.path + ": answer is not a JSON object");
    const json& metadata = page.contains("metadata") ? page["metadata"] : json::object();
    if (listVersion.empty() && metadata.contains("resourceVersion") && metadata["resourceVersion"].is_string()) {
      listVersion = metadata["resourceVersion"].get<std::string>();
    }
    continueToken = metadata.contains("continue") && metadata["continue"].is_string()
                        ? metadata["continue"].get<std::string>()
                        : std::string();
    if (page.contains("items") && page["items"].is_array()) {
      for (auto& item : page["items"]) {
        std::string key = keyOf(item);
        if (!key.empty()) listed[std::move(key)] = std::move(item);
      }
    }
    if (continueToken.empty()) break;
  }
  if (listVersion.empty()) return Error::unavailable("list " + options_.path + ": answer has no metadata.resourceVersion");

  // Diff against the cache so a relist after 410 emits exactly what changed while we were away.
  std::vector<std::pair<EventType, json>> changes;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, object] : listed) {
      const auto old = cache_.find(key);
      if (old == cache_.end()) {
        changes.emplace_back(EventType::Added, object);
      } else if (metadataString(old->second, "resourceVersion") != metadataString(object, "resourceVersion")) {
        changes.emplace_back(EventType::Modified, object);
      }
    }
    for (const auto& [key, object] : cache_) {
      if (!listed.contains(key)) changes.emplace_back(EventType::Deleted, object);
    }
    cache_ = std::move(listed);
    resourceVersion_ = listVersion;
  }
  std::stable_sort(changes.begin(), changes.end(),
                   [](const auto& a, const auto& b) { return keyOf(a.second) < keyOf(b.second); });
  if (handler_.onEvent) {
    for (const auto& [type, object] : changes) handler_.onEvent(type, object);
  }
  if (!synced_.exchange(true) && handler_.onSynced) handler_.onSynced();
  return ok();
}

std::string ListWatcher::watchTarget(std::chrono::seconds timeout) const {
  std::string target = options_.path + "?watch=1&resourceVersion=" + percentEncode(resourceVersion()) +
                       "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout.count());
  if (!options_.labelSelector.empty()) target += "&labelSelector=" + percentEncode(options_.labelSelector);
  return target;
}

void ListWatcher::apply(EventType type, const json& object) {
  const std::string key = keyOf(object);
  if (key.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (type == EventType::Deleted) {
      cache_.erase(key);
    } else {
      cache_[key] = object;
    }
  }
  setResourceVersion(object);
  if (handler_.onEvent) handler_.onEvent(type, object);
}

Result<ListWatcher::WatchEnd> ListWatcher::watchOnce() {
  std::uniform_int_distribution<std::int64_t> pick(options_.minWatchTimeout.count(), options_.maxWatchTimeout.count());
  const std::string target = watchTarget(std::chrono::seconds(pick(random_)));
  WatchStreamParser parser;
  std::vector<WatchEvent> events;
  bool gone = false;
  std::string refusal;      // an ERROR event other than 410
  std::string streamError;  // a garbled line
  auto onData = [&](std::string_view bytes) {
    events.clear();
    auto parsed = parser.feed(bytes, events);
    for (auto& event : events) {
      switch (event.type) {
        case WatchEvent::Type::Added: apply(EventType::Added, event.object); break;
        case WatchEvent::Type::Modified: apply(EventType::Modified, event.object); break;
        case WatchEvent::Type::Deleted: apply(EventType::Deleted, event.object); break;
        case WatchEvent::Type::Bookmark: setResourceVersion(event.object); break;
        case WatchEvent::Type::Error: {
          const auto code = event.object.value("code", 0);
          if (code == 410) {
            gone = true;
          } else {
            refusal = "watch " + options_.path + ": ERROR event " + std::to_string(code) + ": " +
                      event.object.value("message", std::string()) + "; relisting";
          }
          return false;
        }
      }
    }
    if (!parsed) {
      // A garbled line: reopen from the last good resourceVersion rather than guess.
      streamError = parsed.error();
      return false;
    }
    return true;
  };
  auto response = api_.stream(target, onData, cancel_, options_.idleTimeout);
  if (cancel_.cancelled()) return WatchEnd::Stopped;
  if (gone) return WatchEnd::Gone;
  if (!refusal.empty()) {
    reportError(refusal);
    return WatchEnd::Refused;
  }
  if (!streamError.empty()) return Error{streamError};
  if (!response) return response.failure().withContext("watch " + options_.path);
  if (response->status == 410) return WatchEnd::Gone;
  if (!response->success()) {
    return apiError("watch " + options_.path, response.value());
  }
  return WatchEnd::Clean;
}

void ListWatcher::run() {
  bool needList = true;
  while (true) {
    {
      std::lock_guard lock(stopMutex_);
      if (stopping_) return;
    }
    if (needList) {
      auto listed = relist();
      if (!listed) {
        reportError(listed.error());
        if (!sleepFor(nextBackoff())) return;
        continue;
      }
      needList = false;
      backoff_ = std::chrono::milliseconds(0);
    }
    const auto openedAt = std::chrono::steady_clock::now();
    auto ended = watchOnce();
    if (!ended) {
      reportError(ended.error());
      if (!sleepFor(nextBackoff())) return;
      continue;
    }
    switch (ended.value()) {
      case WatchEnd::Stopped: return;
      case WatchEnd::Gone:
        spdlog::debug("watch {}: resourceVersion {} expired (410); relisting", options_.path, resourceVersion());
        needList = true;
        break;
      case WatchEnd::Refused:
        needList = true;
        if (!sleepFor(nextBackoff())) return;
        break;
      case WatchEnd::Clean:
        // A stream that closes at once every time is a server problem: keep backing off then.
        if (std::chrono::steady_clock::now() - openedAt > std::chrono::seconds(1)) {
          backoff_ = std::chrono::milliseconds(0);
        } else if (!sleepFor(nextBackoff())) {
          return;
        }
        break;
    }
  }
}

}  // namespace ringlb::op
