#pragma once

#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/runtime.h"

namespace ringlb::op {

/// Which template fields a standalone runtime applies beyond command, args,
/// port and env: Docker maps the memory and cpu limits and the user; the
/// process runtime none of them.
struct AppliedTemplateFields {
  bool limits = false;  // resources.limits.memory and resources.limits.cpu
  bool user = false;    // securityContext.runAsUser, and runAsGroup with it
};

/// The fields set in `templ` that a runtime applying `applied` ignores, by
/// their path ("spec.template.tolerations"), in schema order. Pure.
std::vector<std::string> ignoredTemplateFields(const ReplicaTemplate& templ, AppliedTemplateFields applied);

/// The ring-level fields set in `policy` that only Kubernetes applies
/// ("spec.podDisruptionBudget" when it differs from the default). Pure.
std::vector<std::string> ignoredRingFields(const RingPolicy& policy);

/// Logs a warning the first time a ring's template sets fields the runtime
/// ignores (Kubernetes-only ones, such as tolerations), and again only when
/// that list of fields changes: the same HashRing file serves every runtime.
/// Thread-safe.
class IgnoredFieldWarnings {
 public:
  IgnoredFieldWarnings(std::string_view runtime, AppliedTemplateFields applied) : runtime_(runtime), applied_(applied) {}

  /// Warns about `spec`'s ignored fields unless its ring was warned about the
  /// same ones. Returns the fields it warned about now (empty: no warning).
  std::vector<std::string> check(const ReplicaSpec& spec);

  /// The same for a ring's Kubernetes-only ring-level fields
  /// (spec.podDisruptionBudget), once per ring and list of fields.
  std::vector<std::string> check(const RingPolicy& policy);

 private:
  std::string runtime_;
  AppliedTemplateFields applied_;
  std::mutex mutex_;
  std::vector<std::string> warnOnce(const std::string& ns, const std::string& ring, std::vector<std::string> fields);

  std::set<std::string> warned_;  // "<namespace>/<ring> <fields>"
};

}  // namespace ringlb::op
