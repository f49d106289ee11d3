#include "ringlb/operator/kubernetes_pod_manifest.h"

#include "ringlb/operator/replica_variables.h"

#include <algorithm>
#include <utility>

namespace ringlb::op {

namespace {

using nlohmann::json;

// Label values: at most 63 characters of [A-Za-z0-9_.-].
std::string labelValue(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                         c == '_' || c == '.';
    out.push_back(allowed ? c : '-');
    if (out.size() == 63) break;
  }
  return out;
}

std::string stringAt(const json& object, std::initializer_list<const char*> path) {
  const json* node = &object;
  for (const char* key : path) {
    if (!node->is_object()) return {};
    const auto it = node->find(key);
    if (it == node->end()) return {};
    node = &*it;
  }
  return node->is_string() ? node->get<std::string>() : std::string();
}

json restrictedContainerSecurityContext() {
  return {{"allowPrivilegeEscalation", false},
          {"capabilities", {{"drop", json::array({"ALL"})}}},
          {"readOnlyRootFilesystem", true},
          {"runAsNonRoot", true},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

// A resource with neither request nor limit gets the default request and no
// limit (Burstable QoS); one with only a limit is left to Kubernetes, which
// requests the limit (cpu and memory both limited: Guaranteed).
json containerResources(const ResourceRequirements& resources) {
  json requests = json::object();
  for (const auto& [name, quantity] : resources.requests) requests[name] = quantity;
  for (const auto& [name, quantity] : {std::pair{"cpu", kDefaultCpuRequest}, std::pair{"memory", kDefaultMemoryRequest}}) {
    if (!resources.requests.count(name) && !resources.limits.count(name)) requests[name] = quantity;
  }
  json out = json::object();
  if (!requests.empty()) out["requests"] = std::move(requests);
  if (!resources.limits.empty()) {
    json limits = json::object();
    for (const auto& [name, quantity] : resources.limits) limits[name] = quantity;
    out["limits"] = std::move(limits);
  }
  return out;
}

json podSecurityContext(const ReplicaSecurityContext& context) {
  json out = {{"runAsNonRoot", true},
              {"runAsUser", context.runAsUser.value_or(kDefaultRunAsUser)},
              {"runAsGroup", context.runAsGroup.value_or(kDefaultRunAsUser)},
              {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  if (context.fsGroup) out["fsGroup"] = *context.fsGroup;
  if (!context.supplementalGroups.empty()) out["supplementalGroups"] = context.supplementalGroups;
  return out;
}

// A spread constraint without a selector would count no Pods at all: it
// counts this ring's replicas instead.
json spreadConstraints(const json& constraints, const std::string& ring) {
  json out = constraints;
  for (auto& constraint : out) {
    if (!constraint.contains("labelSelector")) {
      constraint["labelSelector"] = {{"matchLabels", {{std::string(kLabelRing), labelValue(ring)}}}};
    }
  }
  return out;
}

json podSpec(const ReplicaSpec& spec, json container) {
  const ReplicaTemplate& templ = spec.templ;
  const PodSettings& pod = templ.pod;
  json volumes = json::array();
  const bool tmpReplaced = std::any_of(pod.volumes.begin(), pod.volumes.end(),
                                       [](const json& volume) { return volume.value("name", "") == kTmpVolumeName; });
  if (!tmpReplaced) volumes.push_back({{"name", kTmpVolumeName}, {"emptyDir", json::object()}});
  for (const auto& volume : pod.volumes) volumes.push_back(volume);

  json out = {{"restartPolicy", "Always"},
              {"automountServiceAccountToken", false},
              {"enableServiceLinks", false},
              {"securityContext", podSecurityContext(templ.securityContext)},
              {"containers", json::array({std::move(container)})},
              {"volumes", std::move(volumes)}};
  if (!pod.nodeSelector.empty()) out["nodeSelector"] = pod.nodeSelector;
  if (!pod.tolerations.empty()) out["tolerations"] = pod.tolerations;
  if (!pod.affinity.empty()) out["affinity"] = pod.affinity;
  if (!pod.topologySpreadConstraints.empty()) {
    out["topologySpreadConstraints"] = spreadConstraints(pod.topologySpreadConstraints, spec.ring);
  }
  if (!pod.imagePullSecrets.empty()) {
    json secrets = json::array();
    for (const auto& name : pod.imagePullSecrets) secrets.push_back({{"name", name}});
    out["imagePullSecrets"] = std::move(secrets);
  }
  if (!pod.serviceAccountName.empty()) out["serviceAccountName"] = pod.serviceAccountName;
  return out;
}

// The kubelet's probe in the replica's protocol: its httpGet speaks HTTP/1.1 only, so an h2c ring's
// path is left to the operator's HTTP/2 heartbeat and the kubelet checks the port accepts.
json readinessProbe(const PodOwner& owner, std::uint16_t port) {
  const HealthCheck& check = owner.healthCheck;
  json probe = {{"periodSeconds", check.intervalSeconds},
                {"timeoutSeconds", check.timeoutSeconds},
                {"failureThreshold", check.failureThreshold},
                {"successThreshold", check.successThreshold}};
  if (check.grpc) {
    probe["grpc"] = {{"port", port}, {"service", check.grpc->service}};  // the grpc probe takes no port name
  } else if (owner.protocol == ring::UpstreamProtocol::H2c) {
    probe["tcpSocket"] = {{"port", "http"}};
  } else {
    probe["httpGet"] = {{"path", check.path}, {"port", "http"}};
  }
  return probe;
}

}  // namespace

std::map<std::string, std::string> replicaPodLabels(const ReplicaSpec& spec) {
  return {{std::string(kLabelName), labelValue(spec.ring)},
          {std::string(kLabelManagedBy), std::string(kManagedByValue)},
          {std::string(kLabelRing), labelValue(spec.ring)},
          {std::string(kLabelSlot), labelValue(spec.slot)},
          {std::string(kLabelSpecHash), labelValue(spec.specHash)}};
}

std::string managedPodSelector() {
  return std::string(kLabelManagedBy) + "=" + std::string(kManagedByValue) + "," + std::string(kLabelRing);
}

json buildReplicaPod(const ReplicaSpec& spec, const PodOwner& owner) {
  const ReplicaTemplate& templ = spec.templ;
  json env = json::array();
  for (const auto& var : templ.env) {
    // The operator's own variables win: they must match the port and slot it routes to.
    if (var.name == kPortVariable || var.name == kSlotVariable || var.name == kListenAddressVariable) continue;
    env.push_back({{"name", var.name}, {"value", var.value}});
  }
  // The kubelet expands $(NAME) in command and args from these.
  env.push_back({{"name", kPortVariable}, {"value", std::to_string(templ.port)}});
  env.push_back({{"name", kSlotVariable}, {"value", spec.slot}});
  // Probes and Services reach the Pod on its own address, so listen on all of them.
  env.push_back({{"name", kListenAddressVariable}, {"value", "0.0.0.0"}});

  json container = {
      {"name", "replica"},
      {"image", templ.image},
      {"imagePullPolicy", "IfNotPresent"},
      {"ports", json::array({{{"name", "http"}, {"containerPort", templ.port}, {"protocol", "TCP"}}})},
      {"env", std::move(env)},
      {"readinessProbe", readinessProbe(owner, templ.port)},
      {"securityContext", restrictedContainerSecurityContext()},
  };
  if (!templ.command.empty()) container["command"] = templ.command;
  if (!templ.args.empty()) container["args"] = templ.args;
  container["resources"] = containerResources(templ.resources);
  json mounts = json::array({{{"name", kTmpVolumeName}, {"mountPath", kTmpMountPath}}});
  for (const auto& mount : templ.pod.volumeMounts) mounts.push_back(mount);
  container["volumeMounts"] = std::move(mounts);

  json labels = json::object();
  for (const auto& [key, value] : replicaPodLabels(spec)) labels[key] = value;

  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", spec.slot},
        {"namespace", spec.ringNamespace},
        {"labels", std::move(labels)},
        {"ownerReferences", json::array({{{"apiVersion", "ringlb.dev/v1alpha1"},
                                          {"kind", "HashRing"},
                                          {"name", owner.name},
                                          {"uid", owner.uid},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}})}}},
      {"spec", podSpec(spec, std::move(container))},
  };
}

PodView viewPod(const json& pod) {
  PodView view;
  view.ring = stringAt(pod, {"metadata", "labels", std::string(kLabelRing).c_str()});
  view.slot = stringAt(pod, {"metadata", "labels", std::string(kLabelSlot).c_str()});
  if (view.slot.empty()) view.slot = stringAt(pod, {"metadata", "name"});
  view.ringNamespace = stringAt(pod, {"metadata", "namespace"});
  view.uid = stringAt(pod, {"metadata", "uid"});
  view.specHash = stringAt(pod, {"metadata", "labels", std::string(kLabelSpecHash).c_str()});
  view.phase = stringAt(pod, {"status", "phase"});
  const auto metadata = pod.find("metadata");
  view.terminating = metadata != pod.end() && metadata->contains("deletionTimestamp") &&
                     !(*metadata)["deletionTimestamp"].is_null();

  std::int64_t port = 0;
  if (pod.contains("spec") && pod["spec"].contains("containers") && pod["spec"]["containers"].is_array()) {
    for (const auto& container : pod["spec"]["containers"]) {
      if (!container.contains("ports") || !container["ports"].is_array()) continue;
      for (const auto& entry : container["ports"]) {
        if (entry.contains("containerPort") && entry["containerPort"].is_number_integer()) {
          port = entry["containerPort"].get<std::int64_t>();
          break;
        }
      }
      if (port != 0) break;
    }
  }
  const std::string ip = stringAt(pod, {"status", "podIP"});
  if (!ip.empty() && port != 0) {
    view.address = (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
  }

  bool readyCondition = false;
  const json status = pod.value("status", json::object());
  if (status.contains("conditions") && status["conditions"].is_array()) {
    for (const auto& condition : status["conditions"]) {
      if (condition.value("type", "") == "Ready") readyCondition = condition.value("status", "") == "True";
    }
  }
  view.ready = readyCondition && !view.terminating;

  if (status.contains("containerStatuses") && status["containerStatuses"].is_array()) {
    for (const auto& container : status["containerStatuses"]) {
      view.restarts += container.value("restartCount", 0u);
      if (view.reason.empty()) {
        const std::string waiting = stringAt(container, {"state", "waiting", "reason"});
        if (!waiting.empty()) view.reason = waiting;
      }
      if (view.reason.empty()) {
        const std::string terminated = stringAt(container, {"state", "terminated", "reason"});
        if (!terminated.empty()) view.reason = terminated;
      }
    }
  }
  if (view.terminating) {
    view.reason = "terminating";
  } else if (view.reason.empty() && (view.phase == "Failed" || view.phase == "Succeeded")) {
    view.reason = stringAt(pod, {"status", "reason"});
    if (view.reason.empty()) view.reason = "pod " + view.phase;
  } else if (view.reason.empty() && !view.ready) {
    view.reason = view.phase.empty() ? "pending" : "pod " + view.phase + ", not ready";
  }
  return view;
}

}  // namespace ringlb::op
