#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

/// The field manager of every server-side apply the operator sends.
inline constexpr std::string_view kFieldManager = "ringlb-operator";

/// The status subresource in its JSON shape: fields in a fixed order, members
/// sorted by ordinal, conditions sorted by type, so equal statuses serialize
/// equally and status never flaps.
nlohmann::json hashRingStatusToJson(const HashRingStatus& status);

/// Reads `.status` back (a missing or partial status yields defaults).
HashRingStatus hashRingStatusFromJson(const nlohmann::json& status);

/// Parses a Kubernetes quantity ("128Mi", "1G", "500m", "0.5", "2e3").
/// Returns the value in base units (bytes, cores), or an Error.
Result<double> parseQuantity(std::string_view text);

/// RFC 3339 UTC, seconds ("2026-01-02T03:04:05Z") or microseconds
/// ("2026-01-02T03:04:05.123456Z", metav1.MicroTime).
std::string formatRfc3339(std::chrono::system_clock::time_point time, bool micro = false);

/// Parses either RFC 3339 form above (and a numeric offset). Error on bad text.
Result<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text);

/// Conditions as written: `desired` sorted by type, each keeping the
/// lastTransitionTime of the `previous` condition of the same type when its
/// status did not change, else `now`. An empty reason becomes "Unknown";
/// observedGeneration 0 becomes `generation`.
std::vector<Condition> mergeConditions(const std::vector<Condition>& previous, std::vector<Condition> desired,
                                       std::int64_t generation, const std::string& now);

/// Ready, Progressing and Degraded derived from the counts and members of
/// `status` against `spec.replicas` (used when the reconciler supplies none).
std::vector<Condition> deriveConditions(const HashRingSpec& spec, const HashRingStatus& status,
                                        std::int64_t generation);

/// The label selector that matches a ring's Pods ("ringlb.dev/ring=<name>").
std::string podSelectorFor(const std::string& ringName);

}  // namespace ringlb::op
