#include "ringlb/operator/status_page_json.h"

#include "ringlb/operator/ring_status.h"

namespace ringlb::op {

using nlohmann::json;

namespace {

json membersJson(const RingPageInput& ring) {
  std::map<std::string, std::pair<double, std::uint32_t>> published;  // share, weight
  std::map<std::string, std::uint32_t> ramps;                          // rampPermille, paced rollouts
  if (ring.published) {
    for (std::size_t i = 0; i < ring.published->members().size(); ++i) {
      const auto& member = ring.published->members()[i];
      published[member.id] = {ring.published->shares()[i], member.weight};
      ramps[member.id] = member.rampPermille;
    }
  }
  const auto sinceMillis = [&](const std::optional<Clock::TimePoint>& at) -> json {
    if (!at) return nullptr;
    return std::chrono::duration_cast<std::chrono::milliseconds>(ring.now - *at).count();
  };
  json members = json::array();
  for (const ReplicaRecord* record : recordsByOrdinal(ring.records)) {
    const auto entry = published.find(record->slot);
    const std::size_t recentFailures =
        ring.timeline ? ring.timeline->failuresSince(record->slot, ring.unixMillisNow - kFlappingWindowMillis) : 0;
    const auto outage = ring.timeline ? ring.timeline->outageSince(record->slot) : std::nullopt;
    members.push_back({{"id", record->slot},
                       {"address", record->address},
                       {"state", toString(record->state)},
                       {"restarts", record->restarts},
                       {"lastFailure", record->lastFailure},
                       {"runtimeId", record->runtimeId},
                       {"specHash", record->specHash},
                       {"weight", entry == published.end() ? 0u : entry->second.second},
                       {"share", entry == published.end() ? 0.0 : entry->second.first},
                       {"rampPermille", ramps.contains(record->slot) ? ramps[record->slot] : 0u},
                       {"uptimeMillis", record->running ? sinceMillis(record->startedAt) : json(nullptr)},
                       {"readyForMillis", record->state == ReplicaState::Ready ? sinceMillis(record->readySince) : json(nullptr)},
                       {"outageSinceUnixMillis", outage ? json(*outage) : json(nullptr)},
                       {"recentFailures", recentFailures},
                       {"flapping", recentFailures >= kFlappingFailures}});
  }
  return members;
}

json eventsJson(const ReplicaTimeline* timeline) {
  json out = json::array();
  if (!timeline) return out;
  const auto& events = timeline->events();
  const std::size_t first = events.size() > kPageEvents ? events.size() - kPageEvents : 0;
  for (std::size_t i = first; i < events.size(); ++i) {
    const auto& event = events[i];
    out.push_back({{"unixMillis", event.unixMillis},
                   {"member", event.member},
                   {"kind", std::string(toString(event.kind))},
                   {"detail", event.detail},
                   {"outageMillis", event.outageMillis ? json(*event.outageMillis) : json(nullptr)}});
  }
  return out;
}

json settingsJson(const RingPageInput& ring) {
  if (!ring.published) return nullptr;
  const auto& spec = ring.published->spec();
  json key = {{"source", std::string(ring::toString(spec.key.source))}};
  if (!spec.key.name.empty()) key["name"] = spec.key.name;
  return {{"algorithm", std::string(ring::toString(spec.algorithm))},
          {"virtualNodes", spec.virtualNodes},
          {"loadFactor", spec.loadFactor},
          {"key", key}};
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
          {"settings", settingsJson(ring)},
          {"history", historyJson(ring.history)},
          {"events", eventsJson(ring.timeline)},
          {"error", ring.error ? json(*ring.error) : json(nullptr)}};
}

json statusPageJson(std::string_view runtime, bool ready, std::int64_t unixMillisNow, json rings,
                    const std::map<std::string, std::string>& resourceErrors) {
  json errors = json::object();
  for (const auto& [key, error] : resourceErrors) errors[key] = error;
  return {{"runtime", std::string(runtime)},
          {"ready", ready},
          {"serverUnixMillis", unixMillisNow},
          {"rings", std::move(rings)},
          {"resourceErrors", errors}};
}

}  // namespace ringlb::op
