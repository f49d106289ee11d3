#include "ringlb/operator/status_page_json.h"

#include "ringlb/operator/ring_status.h"

namespace ringlb::op {

using nlohmann::json;

namespace {

json membersJson(const RingPageInput& ring) {
  std::map<std::string, double> shares;
  if (ring.published) {
    for (std::size_t i = 0; i < ring.published->members().size(); ++i) {
      shares[ring.published->members()[i].id] = ring.published->shares()[i];
    }
  }
  json members = json::array();
  for (const ReplicaRecord* record : recordsByOrdinal(ring.records)) {
    const auto share = shares.find(record->slot);
    members.push_back({{"id", record->slot},
                       {"address", record->address},
                       {"state", toString(record->state)},
                       {"restarts", record->restarts},
                       {"lastFailure", record->lastFailure},
                       {"runtimeId", record->runtimeId},
                       {"specHash", record->specHash},
                       {"share", share == shares.end() ? 0.0 : share->second}});
  }
  return members;
}

json historyJson(const std::vector<RingChange>& history) {
  json out = json::array();
  for (const auto& change : history) {
    out.push_back({{"version", change.version},
                   {"unixMillis", change.unixMillis},
                   {"movedKeyspace", change.movedKeyspace},
                   {"summary", change.summary}});
  }
  return out;
}

}  // namespace

json ringPageJson(const RingPageInput& ring) {
  const HashRing* desired = ring.desired;
  return {{"key", ring.key},
          {"name", ring.name},
          {"generation", desired ? desired->metadata.generation : 0},
          {"observedGeneration", ring.status.observedGeneration},
          {"desiredReplicas", desired ? desired->spec.replicas : 0},
          {"readyReplicas", ring.status.readyReplicas},
          {"version", ring.published ? ring.published->version() : 0},
          {"algorithm", desired ? std::string(ring::toString(desired->spec.hashing.algorithm)) : ""},
          {"members", membersJson(ring)},
          {"conditions", conditionsToJson(ring.status.conditions)},
          {"history", historyJson(ring.history)},
          {"error", ring.error ? json(*ring.error) : json(nullptr)}};
}

json statusPageJson(std::string_view runtime, bool ready, json rings,
                    const std::map<std::string, std::string>& resourceErrors) {
  json errors = json::object();
  for (const auto& [key, error] : resourceErrors) errors[key] = error;
  return {{"runtime", std::string(runtime)}, {"ready", ready}, {"rings", std::move(rings)}, {"resourceErrors", errors}};
}

}  // namespace ringlb::op
