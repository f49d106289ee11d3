#include "ringlb/operator/ring_spec_mapping.h"

#include "ringlb/operator/ring_status.h"

namespace ringlb::op {

ring::RingSpec ringSpecFor(const HashRing& resource, std::vector<ring::Member> members) {
  ring::RingSpec spec;
  spec.name = resource.metadata.name;
  spec.algorithm = resource.spec.hashing.algorithm;
  spec.virtualNodes = resource.spec.hashing.virtualNodes;
  spec.tableSize = resource.spec.hashing.tableSize;
  spec.capacity = resource.spec.hashing.capacity;
  spec.loadFactor = resource.spec.hashing.loadFactor;
  spec.key = resource.spec.hashing.key;
  spec.protocol = resource.spec.protocol;
  spec.members = std::move(members);
  // Slot i weighs weights[i]: the member id's ordinal picks its entry.
  for (auto& member : spec.members) {
    const auto slot = ring::slotOf(member.id);
    if (slot && *slot < resource.spec.weights.size()) member.weight = resource.spec.weights[*slot];
  }
  return spec;
}

std::vector<ring::Member> ringMembersOf(const std::map<std::string, ReplicaRecord>& records,
                                        const std::map<std::string, std::string>& lastAddress) {
  std::vector<ring::Member> members;
  for (const ReplicaRecord* record : recordsByOrdinal(records)) {
    if (!record->address.empty()) {
      members.push_back({record->slot, record->address, 1, toMemberState(record->state)});
    } else if (const auto last = lastAddress.find(record->slot); last != lastAddress.end()) {
      members.push_back({record->slot, last->second, 1, ring::MemberState::NotReady});
    }
  }
  return members;
}

std::vector<ring::Member> ringMembersOf(const std::vector<MemberStatus>& members) {
  std::vector<ring::Member> out;
  for (const auto& member : members) {
    if (member.address.empty()) continue;
    out.push_back({member.id, member.address, 1, toMemberState(member.state)});
    out.back().rampPermille = member.rampPermille;
  }
  return out;
}

}  // namespace ringlb::op
