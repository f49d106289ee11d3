#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/replica_record.h"
#include "ringlb/operator/ring_registry.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::op {

/// One ring as the status page (/v1/status) shows it.
struct RingPageInput {
  const std::string& key;                               // "namespace/name"
  const std::string& name;
  const HashRing* desired;                              // null: no valid resource
  const std::map<std::string, ReplicaRecord>& records;  // by slot
  const HashRingStatus& status;                         // as last computed
  const ring::RingSnapshot* published;                  // the ring in force, or null
  const std::vector<RingChange>& history;               // oldest first
  std::optional<std::string> error;                     // the resource's current error
};

/// A ring's entry: generation, replica counts, version, algorithm, members by
/// ordinal with their share of the keyspace, conditions, history and error. Pure.
nlohmann::json ringPageJson(const RingPageInput& ring);

/// The whole page: the runtime's name, readiness, the rings' entries and the
/// resource errors by key. Pure.
nlohmann::json statusPageJson(std::string_view runtime, bool ready, nlohmann::json rings,
                              const std::map<std::string, std::string>& resourceErrors);

}  // namespace ringlb::op
