#include "ringlb/operator/kubernetes_source.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "ringlb/operator/kubernetes_status.h"
#include "ringlb/operator/resource_parser.h"

namespace ringlb::op {

namespace {

using nlohmann::json;

constexpr std::string_view kHashRingsPath = "/apis/ringlb.dev/v1alpha1";

std::string collectionPath(const std::string& ns) {
  return std::string(kHashRingsPath) + (ns.empty() ? "" : "/namespaces/" + ns) + "/hashrings";
}


json normalizedStatus(const json& object) {
  return hashRingStatusToJson(hashRingStatusFromJson(object.value("status", json::object())));
}

// resourceVersions are opaque, but etcd's are increasing integers; when both
// parse, order them so an older event cannot undo what we just wrote.
bool olderOrSame(const std::string& candidate, const std::string& reference) {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  const auto [pa, ea] = std::from_chars(candidate.data(), candidate.data() + candidate.size(), a);
  const auto [pb, eb] = std::from_chars(reference.data(), reference.data() + reference.size(), b);
  if (ea != std::errc() || eb != std::errc() || pa != candidate.data() + candidate.size() ||
      pb != reference.data() + reference.size()) {
    return candidate == reference;
  }
  return a <= b;
}

}  // namespace

KubernetesSource::KubernetesSource(KubernetesApi& api, KubernetesSourceOptions options, Parser parser,
                                   WallClock wallClock)
    : api_(api), options_(std::move(options)), parser_(std::move(parser)), wallClock_(std::move(wallClock)) {}

KubernetesSource::~KubernetesSource() { stop(); }

void KubernetesSource::recordEventsWith(KubernetesEventRecorder* recorder) {
  std::lock_guard lock(mutex_);
  recorder_ = recorder;
}

ResourceEvent KubernetesSource::invalidEventLocked(const std::string& key, const Entry& entry) const {
  ResourceEvent event;
  event.kind = ResourceEvent::Kind::Invalid;
  event.key = key;
  event.error = entry.error;
  ObjectMeta metadata;
  metadata.namespace_ = ringNamespaceOf(key);
  metadata.name = ringNameOf(key);
  metadata.uid = entry.uid;
  metadata.generation = entry.generation;
  metadata.resourceVersion = entry.resourceVersion;
  event.invalidMetadata = std::move(metadata);
  return event;
}

void KubernetesSource::recordInvalid(const ResourceEvent& event) {
  KubernetesEventRecorder* recorder = nullptr;
  {
    std::lock_guard lock(mutex_);
    recorder = handler_ ? recorder_ : nullptr;  // a follower leaves Events to the leader
  }
  if (!recorder || !event.invalidMetadata) return;
  const ObjectMeta& metadata = *event.invalidMetadata;
  recorder->record({"ringlb.dev/v1alpha1", "HashRing", metadata.namespace_, metadata.name, metadata.uid}, "Warning",
                   "InvalidSpec", "Validate", event.error);
}

void KubernetesSource::onObserved(EventHandler observer) {
  std::lock_guard lock(mutex_);
  observer_ = std::move(observer);
}

Result<HashRing> KubernetesSource::parseObject(const json& object) {
  const json metadata = object.value("metadata", json::object());
  const std::string origin = "hashrings/" + metadata.value("namespace", std::string("default")) + "/" +
                             metadata.value("name", std::string("?"));
  ParseOptions options;
  options.fromKubernetes = true;
  return parseHashRing(object.dump(), origin, options);
}

void KubernetesSource::startWatchLocked() {
  if (!watchers_.empty()) return;
  std::vector<std::string> namespaces = options_.watchNamespaces;
  if (namespaces.empty()) namespaces.emplace_back();  // one cluster-wide watch
  for (const auto& ns : namespaces) {
    ListWatchOptions watch;
    watch.path = collectionPath(ns);
    watch.idleTimeout = options_.watchIdleTimeout;
    ListWatcher::Handler callbacks;
    callbacks.onEvent = [this](ListWatcher::EventType type, const json& object) { handle(type, object); };
    callbacks.onError = [](const std::string& error) { spdlog::warn("hashring watch: {}", error); };
    watchers_.push_back(std::make_unique<ListWatcher>(api_, std::move(watch), std::move(callbacks)));
  }
  for (auto& watcher : watchers_) watcher->start();
}

void KubernetesSource::startObserving() {
  std::lock_guard lock(mutex_);
  startWatchLocked();
}

void KubernetesSource::start(EventHandler handler) {
  std::lock_guard dispatch(dispatchMutex_);
  std::vector<ResourceEvent> replay;
  {
    std::lock_guard lock(mutex_);
    handler_ = handler;
    if (watchers_.empty()) {
      startWatchLocked();
      return;
    }
    for (const auto& [key, entry] : entries_) {
      if (entry.ring) {  // the last good state first, then why the current spec is not used
        ResourceEvent event;
        event.kind = ResourceEvent::Kind::Upserted;
        event.key = key;
        event.ring = entry.ring;
        replay.push_back(std::move(event));
      }
      if (!entry.error.empty()) replay.push_back(invalidEventLocked(key, entry));
    }
  }
  for (const auto& event : replay) {
    handler(event);
    if (event.kind == ResourceEvent::Kind::Invalid) recordInvalid(event);
  }
}

void KubernetesSource::stop() {
  std::vector<std::unique_ptr<ListWatcher>> watchers;
  {
    std::lock_guard lock(mutex_);
    watchers = std::move(watchers_);
    watchers_.clear();
  }
  for (auto& watcher : watchers) watcher->stop();
}

bool KubernetesSource::synced() const {
  std::lock_guard lock(mutex_);
  if (watchers_.empty()) return false;
  for (const auto& watcher : watchers_) {
    if (!watcher->synced()) return false;
  }
  return true;
}

std::optional<HashRing> KubernetesSource::find(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.ring) return std::nullopt;
  return it->second.ring;
}

std::optional<PodOwner> KubernetesSource::owner(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(ns + "/" + name);
  if (it == entries_.end() || it->second.uid.empty()) return std::nullopt;
  PodOwner owner;
  owner.name = name;
  owner.uid = it->second.uid;
  if (it->second.ring) {
    owner.healthCheck = it->second.ring->spec.healthCheck;
    owner.protocol = it->second.ring->spec.protocol;
  }
  return owner;
}

void KubernetesSource::handle(ListWatcher::EventType type, const json& object) {
  const std::string key = ListWatcher::keyOf(object);
  if (key.empty()) return;
  std::lock_guard dispatch(dispatchMutex_);
  std::optional<ResourceEvent> specEvent;
  std::optional<ResourceEvent> observedEvent;
  EventHandler handler;
  EventHandler observer;
  {
    std::lock_guard lock(mutex_);
    handler = handler_;
    observer = observer_;
    if (type == ListWatcher::EventType::Deleted) {
      entries_.erase(key);
      ResourceEvent event;
      event.kind = ResourceEvent::Kind::Deleted;
      event.key = key;
      specEvent = event;
      observedEvent = event;
    } else {
      const json metadata = object.value("metadata", json::object());
      const std::string uid = metadata.value("uid", std::string());
      const std::int64_t generation = metadata.value("generation", std::int64_t{0});
      const json spec = object.value("spec", json::object());
      const std::string version = metadata.value("resourceVersion", std::string());
      Entry& entry = entries_[key];
      const bool specChanged =
          entry.uid != uid || entry.generation != generation || entry.spec != spec || !entry.ring.has_value();
      const json status = normalizedStatus(object);
      // Only a newer status from someone else invalidates what we last applied.
      if (entry.lastWritten && status != *entry.lastWritten && !olderOrSame(version, entry.lastWrittenVersion)) {
        entry.lastWritten.reset();
      }
      if (!entry.lastWritten || olderOrSame(entry.lastWrittenVersion, version)) entry.observedStatus = status;
      entry.resourceVersion = version;

      if (specChanged) {
        const bool firstSight = entry.uid != uid || entry.spec != spec || entry.generation != generation;
        entry.uid = uid;
        entry.generation = generation;
        entry.spec = spec;
        auto parsed = parser_(object);
        entry.error = parsed ? std::string() : parsed.error();
        if (!parsed) {
          entry.resourceVersion = version;
          if (firstSight) specEvent = invalidEventLocked(key, entry);
        } else {
          HashRing ring = std::move(parsed).value();
          ring.status = hashRingStatusFromJson(entry.observedStatus);
          entry.ring = ring;
          ResourceEvent event;
          event.kind = ResourceEvent::Kind::Upserted;
          event.key = key;
          event.ring = std::move(ring);
          specEvent = event;
        }
      } else if (entry.ring) {
        entry.ring->status = hashRingStatusFromJson(entry.observedStatus);
        entry.ring->metadata.resourceVersion = version;
      }
      if (entry.ring) {
        ResourceEvent event;
        event.kind = ResourceEvent::Kind::Upserted;
        event.key = key;
        event.ring = entry.ring;
        observedEvent = event;
      }
    }
  }
  if (specEvent && handler) {
    handler(*specEvent);
    if (specEvent->kind == ResourceEvent::Kind::Invalid) recordInvalid(*specEvent);
  }
  if (observedEvent && observer) observer(*observedEvent);
}

Status KubernetesSource::writeStatus(const HashRing& ring, const HashRingStatus& status) {
  const std::string key = ring.key();
  HashRingStatus desired = status;
  json body;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end()) return Error::notFound("write status of HashRing " + key + ": not found (deleted?)");
    Entry& entry = it->second;
    if (desired.observedGeneration == 0) desired.observedGeneration = ring.metadata.generation;
    if (desired.selector.empty()) desired.selector = podSelectorFor(ring.metadata.name);
    if (desired.conditions.empty()) {
      desired.conditions = deriveConditions(conditionFactsOf(ring.spec, desired, ring.metadata.generation));
    }
    const HashRingStatus previous = hashRingStatusFromJson(entry.lastWritten ? *entry.lastWritten : entry.observedStatus);
    desired.conditions = mergeConditions(previous.conditions, desired.conditions, ring.metadata.generation,
                                         formatRfc3339(wallClock_()));
    body = hashRingStatusToJson(desired);
    if (body == entry.observedStatus || (entry.lastWritten && body == *entry.lastWritten)) return ok();
  }

  const json patch = {{"apiVersion", "ringlb.dev/v1alpha1"},
                      {"kind", "HashRing"},
                      {"metadata", {{"name", ring.metadata.name}, {"namespace", ring.metadata.namespace_}}},
                      {"status", body}};
  const std::string target = collectionPath(ring.metadata.namespace_) + "/" + ring.metadata.name +
                             "/status?fieldManager=" + std::string(kFieldManager) + "&force=true";
  auto response = api_.request("PATCH", target, patch.dump(), "application/apply-patch+yaml");
  if (!response) return response.failure().withContext("write status of HashRing " + key);
  // A 409 is a Conflict: the controller retries it quietly.
  if (!response->success()) return apiError("write status of HashRing " + key, response.value());
  const json written = json::parse(response->body, nullptr, false);
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second.lastWritten = body;
    it->second.lastWrittenVersion =
        written.is_object() ? written.value("metadata", json::object()).value("resourceVersion", std::string()) : "";
  }
  return ok();
}

}  // namespace ringlb::op
