#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/replica_record.h"
#include "ringlb/ring/member.h"

namespace ringlb::op {

/// What a ring's Ready, Progressing and Degraded conditions are derived from.
struct ConditionFacts {
  std::int64_t generation = 0;        // the spec's metadata.generation
  std::int32_t desiredReplicas = 0;   // spec.replicas
  std::int32_t replicas = 0;          // slots the operator tracks
  std::int32_t readyReplicas = 0;
  bool starting = false;              // a replica is Starting
  bool draining = false;              // a replica is Draining
  bool rolling = false;               // a slot in range runs an older template, or is being replaced for a newer one
  std::vector<std::string> failures;  // "slot: cause" of each failing slot, by ordinal
  std::optional<std::string> specError;  // the current spec is invalid (the last good state keeps running)
  std::optional<std::string> policyError;  // the runtime refused the ring-level objects (its disruption budget)
  bool validSpec = true;                 // false: no spec of the resource was ever valid
};

/// The one conditions engine: Degraded, Progressing and Ready (sorted by
/// type) with CamelCase reasons that are never empty, observedGeneration set
/// and lastTransitionTime left empty for mergeConditions(). Pure.
std::vector<Condition> deriveConditions(const ConditionFacts& facts);

/// The facts a status alone shows, for writers that get a status without
/// conditions: a member is failing when NotReady or Stopped after a restart
/// or with a recorded failure. Pure.
ConditionFacts conditionFactsOf(const HashRingSpec& spec, const HashRingStatus& status, std::int64_t generation);

/// Conditions as written: `desired` sorted by type, each keeping the
/// lastTransitionTime of the `previous` condition of the same type when its
/// status did not change, else `now`. An empty reason becomes "Unknown";
/// observedGeneration 0 becomes `generation`. Pure.
std::vector<Condition> mergeConditions(const std::vector<Condition>& previous, std::vector<Condition> desired,
                                       std::int64_t generation, const std::string& now);

/// Conditions in their metav1.Condition JSON shape, in the order given. Pure.
nlohmann::json conditionsToJson(const std::vector<Condition>& conditions);

/// The label selector that matches a ring's replicas ("ringlb.dev/ring=<name>").
std::string podSelectorFor(const std::string& ringName);

/// A ring's records in slot order (by ordinal), for every list that must not flap.
std::vector<const ReplicaRecord*> recordsByOrdinal(const std::map<std::string, ReplicaRecord>& records);

/// The controller's view of one ring, from which its status is computed.
struct RingStatusInput {
  const std::string& name;
  const HashRing* desired;                              // null: no valid resource (deleted, or never valid)
  const std::map<std::string, ReplicaRecord>& records;  // by slot
  std::uint64_t ringVersion;                            // of the ring in force, 0 when none
  std::optional<std::string> specError;                 // the resource's current parse or validation error
  std::optional<std::string> policyError = {};          // Runtime::applyRingPolicy's last error
  const std::vector<ring::Member>* inForce = nullptr;   // the ring in force's members, for their ramps
};

/// The status of a ring: counts, members by ordinal, the ring version and the
/// conditions, whose lastTransitionTime carries over from `previous` while
/// their status holds (else `now`, RFC 3339). Pure.
HashRingStatus ringStatusOf(const RingStatusInput& input, const HashRingStatus& previous, const std::string& now);

}  // namespace ringlb::op
