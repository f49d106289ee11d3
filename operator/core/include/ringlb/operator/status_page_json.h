#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/replica_record.h"
#include "ringlb/operator/replica_timeline.h"
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
  const ReplicaTimeline* timeline = nullptr;            // the ring's events, or null
  Clock::TimePoint now{};                               // steady clock, for uptimes
  std::int64_t unixMillisNow = 0;                       // wall clock at `now`
};

/// A member counts as flapping after this many failures within kFlappingWindowMillis.
inline constexpr std::size_t kFlappingFailures = 2;
inline constexpr std::int64_t kFlappingWindowMillis = 10 * 60 * 1000;
/// Events a ring's entry carries (the newest).
inline constexpr std::size_t kPageEvents = 60;

/// A ring's entry: generation, replica counts, version, the ring's settings
/// (algorithm, virtualNodes, loadFactor, key), members by ordinal with their
/// weight, share of the keyspace, runtime id, uptime, current outage and
/// flapping mark, conditions, history, events and error. Pure.
nlohmann::json ringPageJson(const RingPageInput& ring);

/// The whole page: the runtime's name, readiness, the server's clock, the
/// rings' entries and the resource errors by key. Pure.
nlohmann::json statusPageJson(std::string_view runtime, bool ready, std::int64_t unixMillisNow, nlohmann::json rings,
                              const std::map<std::string, std::string>& resourceErrors);

}  // namespace ringlb::op
