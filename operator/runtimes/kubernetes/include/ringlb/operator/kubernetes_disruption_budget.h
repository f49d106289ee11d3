#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ringlb/operator/runtime.h"

namespace ringlb::op {

/// The API path of the PodDisruptionBudget `name` in `ns`.
std::string disruptionBudgetPath(const std::string& ns, const std::string& name);

/// The policy/v1 PodDisruptionBudget of a ring, as sent by server-side apply:
/// named after the ring, in its namespace, selecting its replica Pods
/// (ringlb.dev/ring=<name>), owned by the HashRing (controller, blocking
/// owner deletion), with the budget's maxUnavailable or minAvailable (an
/// integer, or a "25%" string). nullopt when the policy wants no budget. Pure.
std::optional<nlohmann::json> buildDisruptionBudget(const RingPolicy& policy);

/// Whether the `live` PodDisruptionBudget already says everything `desired`
/// (from buildDisruptionBudget) says: labels, owner, selector and budget. A
/// field the API server or another manager added does not count. Pure.
bool disruptionBudgetMatches(const nlohmann::json& live, const nlohmann::json& desired);

}  // namespace ringlb::op
