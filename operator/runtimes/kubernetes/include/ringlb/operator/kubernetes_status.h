#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/rfc3339.h"
#include "ringlb/operator/ring_status.h"
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

}  // namespace ringlb::op
