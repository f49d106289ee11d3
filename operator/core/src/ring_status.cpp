#include "ringlb/operator/ring_status.h"

#include <algorithm>

#include "ringlb/operator/reconcile_plan.h"

namespace ringlb::op {

namespace {

Condition makeCondition(std::string type, bool value, std::string reason, std::string message, std::int64_t generation) {
  return {std::move(type), value ? "True" : "False", std::move(reason), std::move(message), "", generation};
}

Condition readyCondition(const ConditionFacts& facts) {
  if (!facts.validSpec && facts.specError) {
    return makeCondition("Ready", false, "InvalidSpec", "no valid spec to run: " + *facts.specError, facts.generation);
  }
  const std::string counts =
      std::to_string(facts.readyReplicas) + "/" + std::to_string(facts.desiredReplicas) + " replicas ready";
  if (facts.desiredReplicas == 0 && facts.replicas == 0) {
    return makeCondition("Ready", true, "ScaledToZero", "no replicas requested", facts.generation);
  }
  // Extra replicas still draining count against Ready: the ring is not yet what the spec asks for.
  const bool allReady = facts.readyReplicas == facts.desiredReplicas && facts.replicas == facts.desiredReplicas;
  return makeCondition("Ready", allReady, allReady ? "AllReplicasReady" : "ReplicasNotReady", counts, facts.generation);
}

std::string progressReason(const ConditionFacts& facts) {
  if (facts.rolling && facts.replicas == facts.desiredReplicas) return "RollingUpdate";
  if (facts.replicas > facts.desiredReplicas || facts.draining) return "ScalingDown";
  if (facts.replicas < facts.desiredReplicas) return "ScalingUp";
  if (!facts.failures.empty()) return "Replacing";
  if (facts.starting) return "ScalingUp";
  return "Stable";
}

Condition progressingCondition(const ConditionFacts& facts) {
  if (!facts.validSpec && facts.specError) {
    return makeCondition("Progressing", false, "InvalidSpec", "waiting for a valid spec", facts.generation);
  }
  const std::string reason = progressReason(facts);
  if (reason == "Stable") {
    return makeCondition("Progressing", false, reason, "the ring matches the spec", facts.generation);
  }
  const std::string message = "converging on " + std::to_string(facts.desiredReplicas) + " replicas";
  return makeCondition("Progressing", true, reason, message, facts.generation);
}

Condition degradedCondition(const ConditionFacts& facts) {
  if (facts.specError) return makeCondition("Degraded", true, "InvalidSpec", *facts.specError, facts.generation);
  if (facts.failures.empty() && !facts.policyError) {
    return makeCondition("Degraded", false, "AsExpected", "no replica is failing", facts.generation);
  }
  std::string message;
  for (const auto& failure : facts.failures) message += (message.empty() ? "" : "; ") + failure;
  if (facts.policyError) message += (message.empty() ? "" : "; ") + *facts.policyError;
  return makeCondition("Degraded", true, facts.failures.empty() ? "RingPolicyFailed" : "ReplicaFailing", message,
                       facts.generation);
}

ConditionFacts conditionFactsOf(const RingStatusInput& input, const std::vector<const ReplicaRecord*>& records,
                                const HashRingStatus& status) {
  ConditionFacts facts;
  facts.generation = input.desired ? input.desired->metadata.generation : 0;
  facts.desiredReplicas = input.desired ? input.desired->spec.replicas : 0;
  facts.replicas = status.replicas;
  facts.readyReplicas = status.readyReplicas;
  facts.specError = input.specError;
  facts.policyError = input.policyError;
  facts.validSpec = input.desired != nullptr;
  const std::string wantHash = input.desired ? templateHash(input.desired->spec.templ) : std::string();
  for (const ReplicaRecord* record : records) {
    if (input.desired && record->ordinal < static_cast<std::uint32_t>(facts.desiredReplicas) && record->running &&
        record->specHash != wantHash) {
      facts.rolling = true;
    }
    facts.starting = facts.starting || record->state == ReplicaState::Starting;
    facts.draining = facts.draining || record->state == ReplicaState::Draining;
    if (record->failed) facts.failures.push_back(record->slot + ": " + record->lastFailure);
  }
  return facts;
}

}  // namespace

std::vector<Condition> deriveConditions(const ConditionFacts& facts) {
  return {degradedCondition(facts), progressingCondition(facts), readyCondition(facts)};
}

ConditionFacts conditionFactsOf(const HashRingSpec& spec, const HashRingStatus& status, std::int64_t generation) {
  ConditionFacts facts;
  facts.generation = generation;
  facts.desiredReplicas = spec.replicas;
  facts.replicas = status.replicas;
  facts.readyReplicas = status.readyReplicas;
  for (const auto& member : status.members) {
    facts.starting = facts.starting || member.state == ReplicaState::Starting;
    facts.draining = facts.draining || member.state == ReplicaState::Draining;
    const bool down = member.state == ReplicaState::NotReady || member.state == ReplicaState::Stopped;
    if (down && (member.restarts > 0 || !member.lastFailure.empty())) {
      facts.failures.push_back(member.lastFailure.empty() ? member.id : member.id + ": " + member.lastFailure);
    }
  }
  return facts;
}

std::vector<Condition> mergeConditions(const std::vector<Condition>& previous, std::vector<Condition> desired,
                                       std::int64_t generation, const std::string& now) {
  std::sort(desired.begin(), desired.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
  for (auto& condition : desired) {
    if (condition.reason.empty()) condition.reason = "Unknown";
    if (condition.observedGeneration == 0) condition.observedGeneration = generation;
    const auto old = std::find_if(previous.begin(), previous.end(),
                                  [&](const Condition& c) { return c.type == condition.type; });
    if (old != previous.end() && old->status == condition.status && !old->lastTransitionTime.empty()) {
      condition.lastTransitionTime = old->lastTransitionTime;
    } else {
      condition.lastTransitionTime = now;
    }
  }
  return desired;
}

nlohmann::json conditionsToJson(const std::vector<Condition>& conditions) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& condition : conditions) {
    out.push_back({{"type", condition.type},
                   {"status", condition.status},
                   {"reason", condition.reason},
                   {"message", condition.message},
                   {"lastTransitionTime", condition.lastTransitionTime},
                   {"observedGeneration", condition.observedGeneration}});
  }
  return out;
}

std::string podSelectorFor(const std::string& ringName) { return "ringlb.dev/ring=" + ringName; }

std::vector<const ReplicaRecord*> recordsByOrdinal(const std::map<std::string, ReplicaRecord>& records) {
  std::vector<const ReplicaRecord*> out;
  out.reserve(records.size());
  for (const auto& [slot, record] : records) out.push_back(&record);
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return a->ordinal < b->ordinal; });
  return out;
}

HashRingStatus ringStatusOf(const RingStatusInput& input, const HashRingStatus& previous, const std::string& now) {
  HashRingStatus status;
  const std::int64_t generation = input.desired ? input.desired->metadata.generation : 0;
  status.observedGeneration = generation;
  status.replicas = static_cast<std::int32_t>(input.records.size());
  status.selector = podSelectorFor(input.name);
  status.ringVersion = input.ringVersion;
  const auto records = recordsByOrdinal(input.records);
  for (const ReplicaRecord* record : records) {
    if (record->state == ReplicaState::Ready) ++status.readyReplicas;
    MemberStatus member{record->slot, record->address, record->state, record->restarts, record->lastFailure};
    if (input.inForce) {
      const auto published = std::find_if(input.inForce->begin(), input.inForce->end(),
                                           [&](const ring::Member& m) { return m.id == record->slot; });
      if (published != input.inForce->end()) member.rampPermille = published->rampPermille;
    }
    status.members.push_back(std::move(member));
  }
  status.conditions =
      mergeConditions(previous.conditions, deriveConditions(conditionFactsOf(input, records, status)), generation, now);
  return status;
}

}  // namespace ringlb::op
