#include "ringlb/operator/ignored_template_fields.h"

#include <spdlog/spdlog.h>

namespace ringlb::op {

std::vector<std::string> ignoredTemplateFields(const ReplicaTemplate& templ, AppliedTemplateFields applied) {
  std::vector<std::string> fields;
  const auto note = [&](bool set, std::string_view field) {
    if (set) fields.push_back("spec.template." + std::string(field));
  };
  const ResourceRequirements& resources = templ.resources;
  note(!resources.requests.empty(), "resources.requests");
  for (const auto& [name, quantity] : resources.limits) {
    const bool mapped = applied.limits && (name == "memory" || name == "cpu");
    note(!mapped, "resources.limits." + name);
  }
  const ReplicaSecurityContext& security = templ.securityContext;
  note(security.runAsUser && !applied.user, "securityContext.runAsUser");
  note(security.runAsGroup && !(applied.user && security.runAsUser), "securityContext.runAsGroup");
  note(security.fsGroup.has_value(), "securityContext.fsGroup");
  note(!security.supplementalGroups.empty(), "securityContext.supplementalGroups");
  const PodSettings& pod = templ.pod;
  note(!pod.nodeSelector.empty(), "nodeSelector");
  note(!pod.tolerations.empty(), "tolerations");
  note(!pod.affinity.empty(), "affinity");
  note(!pod.topologySpreadConstraints.empty(), "topologySpreadConstraints");
  note(!pod.imagePullSecrets.empty(), "imagePullSecrets");
  note(!pod.serviceAccountName.empty(), "serviceAccountName");
  note(!pod.volumes.empty(), "volumes");
  note(!pod.volumeMounts.empty(), "volumeMounts");
  return fields;
}

std::vector<std::string> ignoredRingFields(const RingPolicy& policy) {
  if (policy.writtenBudget == DisruptionBudget{}) return {};
  return {"spec.podDisruptionBudget"};
}

std::vector<std::string> IgnoredFieldWarnings::check(const ReplicaSpec& spec) {
  return warnOnce(spec.ringNamespace, spec.ring, ignoredTemplateFields(spec.templ, applied_));
}

std::vector<std::string> IgnoredFieldWarnings::check(const RingPolicy& policy) {
  return warnOnce(policy.ringNamespace, policy.ring, ignoredRingFields(policy));
}

std::vector<std::string> IgnoredFieldWarnings::warnOnce(const std::string& ns, const std::string& ring,
                                                        std::vector<std::string> fields) {
  if (fields.empty()) return fields;
  std::string list;
  for (const auto& field : fields) list += (list.empty() ? "" : ", ") + field;
  {
    std::lock_guard lock(mutex_);
    if (!warned_.insert(ns + "/" + ring + " " + list).second) return {};
  }
  spdlog::warn("HashRing {}/{}: the {} runtime ignores {} (Kubernetes only)", ns, ring, runtime_, list);
  return fields;
}

}  // namespace ringlb::op
