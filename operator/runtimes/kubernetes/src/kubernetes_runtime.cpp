#include "ringlb/base/percent_encoding.h"
#include "ringlb/operator/kubernetes_runtime.h"

#include <spdlog/spdlog.h>

#include "ringlb/operator/kubernetes_disruption_budget.h"
#include "ringlb/operator/kubernetes_status.h"

namespace ringlb::op {

namespace {

using nlohmann::json;

std::string podPath(const std::string& ns, const std::string& name) {
  return "/api/v1/namespaces/" + ns + "/pods/" + name;
}

bool finished(const PodView& view) { return view.phase == "Failed" || view.phase == "Succeeded"; }

}  // namespace

KubernetesRuntime::KubernetesRuntime(KubernetesApi& api, KubernetesRuntimeOptions options, OwnerLookup owners,
                                     KubernetesEventRecorder* recorder)
    : api_(api), options_(std::move(options)), owners_(std::move(owners)), recorder_(recorder) {}

KubernetesRuntime::~KubernetesRuntime() { shutdown(); }

ReplicaInfo KubernetesRuntime::replicaInfo(const PodView& view) {
  ReplicaInfo info;
  info.ring = view.ring;
  info.slot = view.slot;
  info.runtimeId = view.uid;
  // The operator probes and routes to an address only once the kubelet calls the Pod Ready.
  info.address = view.ready ? view.address : std::string();
  info.specHash = view.specHash;
  info.running = !view.terminating && !finished(view);
  info.reason = view.ready ? std::string() : view.reason;
  info.ringNamespace = view.ringNamespace;
  return info;
}

void KubernetesRuntime::start() {
  std::lock_guard lock(mutex_);
  if (!watchers_.empty()) return;
  std::vector<std::string> namespaces = options_.watchNamespaces;
  if (namespaces.empty()) namespaces.emplace_back();
  for (const auto& ns : namespaces) {
    ListWatchOptions watch;
    watch.path = ns.empty() ? "/api/v1/pods" : "/api/v1/namespaces/" + ns + "/pods";
    watch.labelSelector = managedPodSelector();
    watch.idleTimeout = options_.watchIdleTimeout;
    ListWatcher::Handler handler;
    handler.onEvent = [this](ListWatcher::EventType type, const json& pod) { handlePodEvent(type, pod); };
    handler.onError = [](const std::string& error) { spdlog::warn("pod watch: {}", error); };
    watchers_.push_back(std::make_unique<ListWatcher>(api_, std::move(watch), std::move(handler)));
  }
  for (auto& watcher : watchers_) watcher->start();
}

void KubernetesRuntime::shutdown() {
  std::vector<std::unique_ptr<ListWatcher>> watchers;
  {
    std::lock_guard lock(mutex_);
    watchers = std::move(watchers_);
    watchers_.clear();
  }
  for (auto& watcher : watchers) watcher->stop();
}

bool KubernetesRuntime::synced() const {
  std::lock_guard lock(mutex_);
  return syncedLocked();
}

bool KubernetesRuntime::syncedLocked() const {
  if (watchers_.empty()) return false;
  for (const auto& watcher : watchers_) {
    if (!watcher->synced()) return false;
  }
  return true;
}

void KubernetesRuntime::onEvent(EventHandler handler) {
  const bool detach = !handler;
  {
    std::lock_guard lock(handlerMutex_);
    handler_ = std::move(handler);
  }
  if (!detach) start();
}

void KubernetesRuntime::handlePodEvent(ListWatcher::EventType type, const json& pod) {
  const std::string key = ListWatcher::keyOf(pod);
  const PodView view = viewPod(pod);
  std::optional<RuntimeEvent> event;
  {
    std::lock_guard lock(mutex_);
    const auto previous = seen_.find(key);
    if (type == ListWatcher::EventType::Deleted) {
      // A Pod force-deleted and recreated under its name may already be cached: keep the newer one.
      if (const auto it = pods_.find(key); it != pods_.end() && viewPod(it->second).uid == view.uid) pods_.erase(it);
      if (previous != seen_.end() && previous->second.uid == view.uid) seen_.erase(previous);
      event = RuntimeEvent{RuntimeEvent::Kind::Deleted, view.ring, view.slot, view.uid, "pod deleted", {},
                           view.ringNamespace};
    } else {
      pods_[key] = pod;
      const bool same = previous != seen_.end() && previous->second.uid == view.uid;
      const bool wasFinished = same && finished(previous->second);
      const bool wasTerminating = same && previous->second.terminating;
      const bool wasReady = same && previous->second.ready;
      if (finished(view) && !wasFinished) {
        event = RuntimeEvent{RuntimeEvent::Kind::Exited, view.ring, view.slot, view.uid, view.reason, {},
                             view.ringNamespace};
      } else if (view.terminating && !wasTerminating && previous != seen_.end()) {
        // A Pod with a deletionTimestamp is no longer Ready, whatever its conditions say.
        event = RuntimeEvent{RuntimeEvent::Kind::Exited, view.ring, view.slot, view.uid, "pod terminating", {},
                             view.ringNamespace};
      } else if (view.ready && !wasReady) {
        event = RuntimeEvent{RuntimeEvent::Kind::Started, view.ring, view.slot, view.uid, "pod ready", view.address,
                             view.ringNamespace};
      }
      seen_[key] = view;
    }
  }
  if (!event || event->ring.empty()) return;
  std::lock_guard lock(handlerMutex_);
  if (handler_) handler_(*event);
}

Result<std::optional<json>> KubernetesRuntime::findPod(const std::string& ns, const std::string& name) {
  const std::string key = ns + "/" + name;
  {
    std::lock_guard lock(mutex_);
    const auto it = pods_.find(key);
    if (it != pods_.end()) return std::optional<json>(it->second);
    if (syncedLocked()) return std::optional<json>();
  }
  auto response = api_.request("GET", podPath(ns, name));
  if (!response) return response.failure().withContext("get Pod " + key);
  if (response->status == 404) return std::optional<json>();
  if (!response->success()) {
    return apiError("get Pod " + key, response.value());
  }
  json pod = json::parse(response->body, nullptr, false);
  if (!pod.is_object()) return Error::unavailable("get Pod " + key + ": answer is not a JSON object");
  return std::optional<json>(std::move(pod));
}

Result<PodOwner> KubernetesRuntime::ownerOf(const std::string& ns, const std::string& ring) {
  if (owners_) {
    if (auto owner = owners_(ns, ring); owner && !owner->uid.empty()) return *owner;
  }
  const std::string path = "/apis/ringlb.dev/v1alpha1/namespaces/" + ns + "/hashrings/" + ring;
  auto response = api_.request("GET", path);
  if (!response) return response.failure().withContext("get HashRing " + ns + "/" + ring);
  if (!response->success()) {
    return apiError("get HashRing " + ns + "/" + ring, response.value());
  }
  const json object = json::parse(response->body, nullptr, false);
  if (!object.is_object()) return Error::unavailable("get HashRing " + ns + "/" + ring + ": answer is not a JSON object");
  PodOwner owner;
  owner.name = ring;
  owner.uid = object.value("metadata", json::object()).value("uid", std::string());
  const json check = object.value("spec", json::object()).value("healthCheck", json::object());
  owner.healthCheck.path = check.value("path", owner.healthCheck.path);
  owner.healthCheck.intervalSeconds = check.value("intervalSeconds", owner.healthCheck.intervalSeconds);
  owner.healthCheck.timeoutSeconds = check.value("timeoutSeconds", owner.healthCheck.timeoutSeconds);
  owner.healthCheck.failureThreshold = check.value("failureThreshold", owner.healthCheck.failureThreshold);
  owner.healthCheck.successThreshold = check.value("successThreshold", owner.healthCheck.successThreshold);
  if (const auto grpc = check.find("grpc"); grpc != check.end() && grpc->is_object()) {
    owner.healthCheck.grpc = GrpcHealthCheck{grpc->value("service", std::string())};
  }
  const auto protocol =
      ring::parseUpstreamProtocol(object.value("spec", json::object()).value("protocol", std::string("http1")));
  owner.protocol = protocol.value_or(ring::UpstreamProtocol::Http1);
  if (owner.uid.empty()) return Error{"HashRing " + ns + "/" + ring + " has no metadata.uid"};
  return owner;
}

Status KubernetesRuntime::deletePod(const std::string& ns, const std::string& name, const std::string& uid,
                                    std::optional<std::chrono::seconds> grace) {
  json options = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (grace) options["gracePeriodSeconds"] = grace->count();
  if (!uid.empty()) options["preconditions"] = {{"uid", uid}};
  auto response = api_.request("DELETE", podPath(ns, name), options.dump(), "application/json");
  if (!response) return response.failure().withContext("delete Pod " + ns + "/" + name);
  if (response->status == 404) return ok();
  if (response->status == 409) {
    return Error::conflict("delete Pod " + ns + "/" + name + ": the Pod was replaced meanwhile");
  }
  if (!response->success()) {
    return apiError("delete Pod " + ns + "/" + name, response.value());
  }
  return ok();
}

void KubernetesRuntime::recordEvent(const std::string& ns, const std::string& ring, std::string_view type,
                                    std::string_view reason, std::string_view action, const std::string& note) {
  if (!recorder_) return;
  ObjectReference regarding{"ringlb.dev/v1alpha1", "HashRing", ns, ring, {}};
  if (owners_) {
    if (auto owner = owners_(ns, ring)) regarding.uid = owner->uid;
  }
  recorder_->record(regarding, type, reason, action, note);
}

NodeHealth KubernetesRuntime::nodeHealthOf(const std::string& nodeName) {
  if (nodeName.empty()) return NodeHealth::Unchecked;
  auto response = api_.request("GET", "/api/v1/nodes/" + nodeName);
  if (!response) {
    spdlog::debug("get Node {}: {}", nodeName, response.error());
    return NodeHealth::Unchecked;
  }
  if (response->status == 404) return NodeHealth::Missing;
  if (!response->success()) {
    // Without `get nodes` (RBAC) only the time bound applies.
    spdlog::debug("get Node {}: HTTP {}", nodeName, response->status);
    return NodeHealth::Unchecked;
  }
  const json node = json::parse(response->body, nullptr, false);
  return node.is_object() ? nodeHealth(node) : NodeHealth::Unchecked;
}

Result<bool> KubernetesRuntime::forceDeleteIfStuck(const ReplicaSpec& spec, const json& pod, const PodView& view) {
  const std::string key = spec.ringNamespace + "/" + spec.slot;
  const TerminatingPod terminating = terminatingPod(pod);
  const TerminationVerdict verdict = judgeTerminatingPod(terminating, nodeHealthOf(terminating.nodeName),
                                                         options_.wallClock(), options_.stuckTerminationAfter);
  if (!verdict.forceDelete) return false;
  spdlog::warn("Pod {} force-deleted: {}", key, verdict.reason);
  if (auto deleted = deletePod(spec.ringNamespace, spec.slot, view.uid, std::chrono::seconds(0)); !deleted) {
    return deleted.failure();
  }
  {
    std::lock_guard lock(mutex_);
    if (const auto it = pods_.find(key); it != pods_.end() && viewPod(it->second).uid == view.uid) pods_.erase(it);
  }
  recordEvent(spec.ringNamespace, spec.ring, "Warning", "ReplicaForceDeleted", "ForceDelete",
              "Pod " + key + " force-deleted: " + verdict.reason + "; recreating it under the same name");
  return true;
}

Result<ReplicaInfo> KubernetesRuntime::keepOrReplace(const ReplicaSpec& spec, const PodView& view) {
  const std::string& ns = spec.ringNamespace;
  const std::string key = ns + "/" + spec.slot;
  if (finished(view)) {
    recordEvent(ns, spec.ring, "Warning", "ReplicaFailed", "Recreate",
                "Pod " + key + " " + view.reason + "; recreating it under the same name");
    if (auto deleted = deletePod(ns, spec.slot, view.uid, std::chrono::seconds(0)); !deleted) {
      return deleted.failure();
    }
    ReplicaInfo info = replicaInfo(view);
    info.running = false;
    return info;
  }
  if (view.specHash != spec.specHash) {
    recordEvent(ns, spec.ring, "Normal", "ReplicaReplaced", "Replace",
                "Pod " + key + " runs spec " + view.specHash + ", want " + spec.specHash);
    if (auto deleted = deletePod(ns, spec.slot, view.uid, std::nullopt); !deleted) return deleted.failure();
    ReplicaInfo info = replicaInfo(view);
    info.running = false;
    info.reason = "replacing: the spec changed";
    return info;
  }
  return replicaInfo(view);  // adopt: nothing to write
}

Result<ReplicaInfo> KubernetesRuntime::ensureRunning(const ReplicaSpec& spec) {
  const std::string& ns = spec.ringNamespace;
  const std::string key = ns + "/" + spec.slot;
  auto existing = findPod(ns, spec.slot);
  if (!existing) return existing.failure();
  if (existing.value()) {
    const PodView view = viewPod(*existing.value());
    if (!view.terminating) return keepOrReplace(spec, view);
    auto forced = forceDeleteIfStuck(spec, *existing.value(), view);
    if (!forced) return forced.failure();
    if (!forced.value()) return replicaInfo(view);  // the DELETED event brings us back to recreate it
    // Gone for good: recreate the slot now rather than a restart backoff later.
  }

  auto owner = ownerOf(ns, spec.ring);
  if (!owner) return owner.failure();
  const json pod = withLostNodeTolerations(buildReplicaPod(spec, owner.value()), options_.lostNodeToleration);
  const std::string target = podPath(ns, spec.slot) + "?fieldManager=" + std::string(kFieldManager) + "&force=true";
  auto response = api_.request("PATCH", target, pod.dump(), "application/apply-patch+yaml");
  if (!response) return response.failure().withContext("apply Pod " + key);
  if (!response->success()) {
    Error error = apiError("apply Pod " + key, response.value());
    // A 409 is a Conflict: the controller requeues it quietly, as it retries a throttled
    // (429) or timed-out one. The rest (an invalid field, Pod Security, RBAC) is the user's to see.
    if (error.kind != ErrorKind::Conflict && error.kind != ErrorKind::Transient) {
      recordEvent(ns, spec.ring, "Warning", "ReplicaCreateFailed", "Create", error.message);
    }
    return error;
  }
  json created = json::parse(response->body, nullptr, false);
  if (!created.is_object()) return Error::unavailable("apply Pod " + key + ": answer is not a JSON object");
  {
    std::lock_guard lock(mutex_);
    pods_.try_emplace(key, created);  // the watch event may already be newer
  }
  recordEvent(ns, spec.ring, "Normal", "ReplicaCreated", "Create", "Created Pod " + key);
  return replicaInfo(viewPod(created));
}

std::vector<PodView> KubernetesRuntime::podsOf(const std::string& ring, const std::string& slot) const {
  std::string ns;
  std::string name = ring;
  if (const auto slash = ring.find('/'); slash != std::string::npos) {
    ns = ring.substr(0, slash);
    name = ring.substr(slash + 1);
  }
  std::vector<PodView> out;
  std::lock_guard lock(mutex_);
  for (const auto& [key, pod] : pods_) {
    PodView view = viewPod(pod);
    if (view.ring == name && view.slot == slot && (ns.empty() || view.ringNamespace == ns)) out.push_back(view);
  }
  return out;
}

Status KubernetesRuntime::stop(const std::string& ring, const std::string& slot, std::chrono::seconds grace) {
  std::vector<PodView> pods = podsOf(ring, slot);
  if (pods.empty() && !synced()) {
    // Not listed yet: look where it would be.
    std::string ns = options_.watchNamespaces.empty() ? "default" : options_.watchNamespaces.front();
    if (const auto slash = ring.find('/'); slash != std::string::npos) ns = ring.substr(0, slash);
    auto found = findPod(ns, slot);
    if (!found) return found.failure();
    if (found.value()) pods.push_back(viewPod(*found.value()));
  }
  for (const auto& view : pods) {
    if (view.terminating) continue;
    if (auto deleted = deletePod(view.ringNamespace, view.slot, view.uid, grace); !deleted) return deleted;
    recordEvent(view.ringNamespace, view.ring, "Normal", "ReplicaDeleted", "Delete",
                "Deleted Pod " + view.ringNamespace + "/" + view.slot);
  }
  return ok();
}

Result<std::vector<ReplicaInfo>> KubernetesRuntime::list() {
  std::vector<ReplicaInfo> out;
  if (synced()) {
    std::lock_guard lock(mutex_);
    for (const auto& [key, pod] : pods_) out.push_back(replicaInfo(viewPod(pod)));
    return out;
  }
  std::vector<std::string> namespaces = options_.watchNamespaces;
  if (namespaces.empty()) namespaces.emplace_back();
  for (const auto& ns : namespaces) {
    const std::string path = ns.empty() ? "/api/v1/pods" : "/api/v1/namespaces/" + ns + "/pods";
    std::string continueToken;
    for (;;) {
      std::string target = path + "?limit=500&labelSelector=" + percentEncode(managedPodSelector());
      if (!continueToken.empty()) target += "&continue=" + percentEncode(continueToken);
      auto response = api_.request("GET", target);
      if (!response) return response.failure().withContext("list Pods");
      if (!response->success()) {
        return apiError("list Pods", response.value());
      }
      const json page = json::parse(response->body, nullptr, false);
      if (!page.is_object()) return Error::unavailable("list Pods: answer is not a JSON object");
      for (const auto& pod : page.value("items", json::array())) out.push_back(replicaInfo(viewPod(pod)));
      continueToken = page.value("metadata", json::object()).value("continue", std::string());
      if (continueToken.empty()) break;
    }
  }
  return out;
}

bool KubernetesRuntime::podReady(const std::string& ring, const std::string& slot) const {
  for (const auto& view : podsOf(ring, slot)) {
    if (view.ready) return true;
  }
  return false;
}

}  // namespace ringlb::op

namespace ringlb::op {

Error KubernetesRuntime::budgetFailed(const RingPolicy& policy, std::string_view action, Error error) {
  if (error.kind != ErrorKind::Conflict && error.kind != ErrorKind::Transient) {
    recordEvent(policy.ringNamespace, policy.ring, "Warning", "DisruptionBudgetFailed", action, error.message);
  }
  return error;
}

Status KubernetesRuntime::applyRingPolicy(const RingPolicy& policy) {
  const std::string& ns = policy.ringNamespace;
  const std::string key = ns + "/" + policy.ring;
  const std::string path = disruptionBudgetPath(ns, policy.ring);
  auto current = api_.request("GET", path);
  if (!current) return current.failure().withContext("get PodDisruptionBudget " + key);
  if (!current->success() && current->status != 404) {
    return budgetFailed(policy, "Get", apiError("get PodDisruptionBudget " + key, current.value()));
  }
  const json live = current->status == 404 ? json() : json::parse(current->body, nullptr, false);

  RingPolicy owned = policy;
  if (owned.ringUid.empty() && owned.disruptionBudget) {
    auto owner = ownerOf(ns, policy.ring);
    if (!owner) return owner.failure();
    owned.ringUid = owner->uid;
  }
  const std::optional<json> desired = buildDisruptionBudget(owned);
  if (!desired) {
    // Only ours goes: a budget someone else made under the ring's name is theirs.
    const json labels = live.is_object() ? live.value("metadata", json::object()).value("labels", json::object())
                                         : json::object();
    if (labels.value(std::string(kLabelManagedBy), std::string()) != kManagedByValue) return ok();
    auto response = api_.request("DELETE", path);
    if (!response) return response.failure().withContext("delete PodDisruptionBudget " + key);
    if (!response->success() && response->status != 404) {
      return budgetFailed(policy, "Delete", apiError("delete PodDisruptionBudget " + key, response.value()));
    }
    recordEvent(ns, policy.ring, "Normal", "DisruptionBudgetDeleted", "Delete",
                "Deleted PodDisruptionBudget " + key + ": spec.podDisruptionBudget wants none");
    return ok();
  }
  if (disruptionBudgetMatches(live, *desired)) return ok();  // at rest: no write

  const std::string target = path + "?fieldManager=" + std::string(kFieldManager) + "&force=true";
  auto response = api_.request("PATCH", target, desired->dump(), "application/apply-patch+yaml");
  if (!response) return response.failure().withContext("apply PodDisruptionBudget " + key);
  if (!response->success()) {
    return budgetFailed(policy, "Apply", apiError("apply PodDisruptionBudget " + key, response.value()));
  }
  const json& spec = (*desired)["spec"];
  const std::string budget = spec.contains("maxUnavailable") ? "maxUnavailable " + spec["maxUnavailable"].dump()
                                                             : "minAvailable " + spec["minAvailable"].dump();
  recordEvent(ns, policy.ring, "Normal", "DisruptionBudgetApplied", "Apply",
              "Applied PodDisruptionBudget " + key + " (" + budget + ")");
  return ok();
}

}  // namespace ringlb::op
