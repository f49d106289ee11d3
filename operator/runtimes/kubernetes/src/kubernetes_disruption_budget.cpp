#include "ringlb/operator/kubernetes_disruption_budget.h"

#include "ringlb/operator/kubernetes_pod_manifest.h"

namespace ringlb::op {

namespace {

using nlohmann::json;

// policy/v1 IntOrString: a count is an integer, a percentage a string.
json intOrString(const IntOrPercent& value) {
  if (value.percent) return toString(value);
  return value.value;
}

// `desired` is a subset of `live`: every key of an object, every element of an array in order.
bool contains(const json& live, const json& desired) {
  if (desired.is_object()) {
    if (!live.is_object()) return false;
    for (const auto& [key, value] : desired.items()) {
      if (!live.contains(key) || !contains(live[key], value)) return false;
    }
    return true;
  }
  if (desired.is_array()) {
    if (!live.is_array() || live.size() != desired.size()) return false;
    for (std::size_t i = 0; i < desired.size(); ++i) {
      if (!contains(live[i], desired[i])) return false;
    }
    return true;
  }
  return live == desired;
}

}  // namespace

std::string disruptionBudgetPath(const std::string& ns, const std::string& name) {
  return "/apis/policy/v1/namespaces/" + ns + "/poddisruptionbudgets/" + name;
}

std::optional<json> buildDisruptionBudget(const RingPolicy& policy) {
  if (!policy.disruptionBudget) return std::nullopt;
  const DisruptionBudget& budget = *policy.disruptionBudget;
  json spec = {{"selector", {{"matchLabels", {{std::string(kLabelRing), policy.ring}}}}}};
  if (budget.maxUnavailable) spec["maxUnavailable"] = intOrString(*budget.maxUnavailable);
  if (budget.minAvailable) spec["minAvailable"] = intOrString(*budget.minAvailable);
  return json{
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata",
       {{"name", policy.ring},
        {"namespace", policy.ringNamespace},
        {"labels",
         {{std::string(kLabelName), policy.ring},
          {std::string(kLabelManagedBy), std::string(kManagedByValue)},
          {std::string(kLabelRing), policy.ring}}},
        {"ownerReferences", json::array({{{"apiVersion", "ringlb.dev/v1alpha1"},
                                          {"kind", "HashRing"},
                                          {"name", policy.ring},
                                          {"uid", policy.ringUid},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}})}}},
      {"spec", std::move(spec)},
  };
}

bool disruptionBudgetMatches(const json& live, const json& desired) {
  if (!live.is_object() || !contains(live.value("metadata", json::object()), desired["metadata"])) return false;
  const json liveSpec = live.value("spec", json::object());
  // The budget is one of two fields: the other one set live (by an earlier apply) is a difference too.
  for (const char* field : {"maxUnavailable", "minAvailable"}) {
    if (liveSpec.contains(field) != desired["spec"].contains(field)) return false;
  }
  return contains(liveSpec, desired["spec"]);
}

}  // namespace ringlb::op
