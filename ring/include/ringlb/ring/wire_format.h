#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "ringlb/base/result.h"
#include "ringlb/ring/ring_spec.h"

namespace ringlb::ring {

/// Parses the ring wire format
///   {name, version, algorithm, virtualNodes, tableSize? (maglev), capacity? (anchor), loadFactor,
///    key:{source, name?}, protocol? (http1 | h2c, default http1),
///    members:[{id, address, weight, state}]}
/// and validates it. Errors name the field, e.g. "members[2].weight: must be ≥ 1".
Result<RingSpec> parseRingJson(std::string_view text);
Result<RingSpec> ringFromJson(const nlohmann::json& document);

/// Serializes a spec; parseRingJson(serializeRing(s)) == s for any valid s.
nlohmann::json ringToJson(const RingSpec& spec);
std::string serializeRing(const RingSpec& spec);

}  // namespace ringlb::ring
