#include "ringlb/operator/hash_ring.h"

namespace ringlb::op {

std::string_view toString(ReplicaState state) noexcept {
  switch (state) {
    case ReplicaState::Starting: return "Starting";
    case ReplicaState::Ready: return "Ready";
    case ReplicaState::NotReady: return "NotReady";
    case ReplicaState::Draining: return "Draining";
    case ReplicaState::Stopped: return "Stopped";
  }
  return "NotReady";
}

ring::MemberState toMemberState(ReplicaState state) noexcept {
  switch (state) {
    case ReplicaState::Ready: return ring::MemberState::Ready;
    case ReplicaState::Draining: return ring::MemberState::Draining;
    case ReplicaState::Starting:
    case ReplicaState::NotReady:
    case ReplicaState::Stopped: return ring::MemberState::NotReady;
  }
  return ring::MemberState::NotReady;
}

std::optional<DisruptionBudget> effectiveDisruptionBudget(const DisruptionBudget& budget, std::int32_t replicas) {
  if (!budget.enabled || replicas < 2) return std::nullopt;
  DisruptionBudget effective = budget;
  if (!effective.maxUnavailable && !effective.minAvailable) effective.maxUnavailable = IntOrPercent{1, false};
  return effective;
}

std::string toString(const IntOrPercent& value) {
  return std::to_string(value.value) + (value.percent ? "%" : "");
}

}  // namespace ringlb::op
