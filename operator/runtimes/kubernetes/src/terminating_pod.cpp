#include "ringlb/operator/terminating_pod.h"

#include "ringlb/operator/rfc3339.h"

namespace ringlb::op {

namespace {

using nlohmann::json;

std::string stringField(const json& object, const char* outer, const char* inner) {
  const auto it = object.find(outer);
  if (it == object.end() || !it->is_object()) return {};
  const auto field = it->find(inner);
  return field != it->end() && field->is_string() ? field->get<std::string>() : std::string();
}

}  // namespace

NodeHealth nodeHealth(const json& node) {
  const json status = node.value("status", json::object());
  const auto conditions = status.find("conditions");
  if (conditions == status.end() || !conditions->is_array()) return NodeHealth::Unknown;
  for (const auto& condition : *conditions) {
    if (!condition.is_object() || condition.value("type", "") != "Ready") continue;
    const std::string value = condition.value("status", "");
    if (value == "True") return NodeHealth::Ready;
    if (value == "False") return NodeHealth::NotReady;
    return NodeHealth::Unknown;
  }
  return NodeHealth::Unknown;
}

TerminatingPod terminatingPod(const json& pod) {
  TerminatingPod view;
  view.nodeName = stringField(pod, "spec", "nodeName");
  if (const std::string text = stringField(pod, "metadata", "deletionTimestamp"); !text.empty()) {
    if (auto parsed = parseRfc3339(text)) view.deletionTimestamp = parsed.value();
  }
  return view;
}

TerminationVerdict judgeTerminatingPod(const TerminatingPod& pod, NodeHealth node,
                                       std::chrono::system_clock::time_point now, std::chrono::seconds stuckAfter) {
  if (node == NodeHealth::Unknown) {
    return {true, "its Node " + pod.nodeName + " stopped reporting (Ready=Unknown): no kubelet will finish the deletion",
            std::nullopt};
  }
  if (node == NodeHealth::Missing) {
    return {true, "its Node " + pod.nodeName + " no longer exists", std::nullopt};
  }
  if (!pod.deletionTimestamp) return {true, "it is terminating without a readable deletionTimestamp", std::nullopt};
  const auto due = *pod.deletionTimestamp + stuckAfter;
  if (now >= due) {
    const auto late = std::chrono::duration_cast<std::chrono::seconds>(now - *pod.deletionTimestamp);
    return {true, "it is still terminating " + std::to_string(late.count()) + " s after its deletionTimestamp", std::nullopt};
  }
  return {false, "waiting for the kubelet to finish the deletion", due};
}

json withLostNodeTolerations(json pod, std::chrono::seconds seconds) {
  json& spec = pod["spec"];
  if (!spec.contains("tolerations") || !spec["tolerations"].is_array()) spec["tolerations"] = json::array();
  json& tolerations = spec["tolerations"];
  const auto tolerated = [&tolerations](const std::string& key) {
    for (const auto& toleration : tolerations) {
      const std::string tolKey = toleration.value("key", "");
      const std::string effect = toleration.value("effect", "");
      if ((tolKey == key || (tolKey.empty() && toleration.value("operator", "") == "Exists")) &&
          (effect.empty() || effect == "NoExecute")) {
        return true;
      }
    }
    return false;
  };
  for (const char* key : {"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"}) {
    if (tolerated(key)) continue;
    tolerations.push_back(
        {{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", seconds.count()}});
  }
  return pod;
}

}  // namespace ringlb::op
