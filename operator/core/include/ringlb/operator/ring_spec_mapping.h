#pragma once

#include <map>
#include <string>
#include <vector>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/replica_record.h"
#include "ringlb/ring/ring_spec.h"

namespace ringlb::op {

/// The ring a HashRing asks for: its name and hashing (algorithm, virtual
/// nodes, table size, capacity, load factor, key) with `members`, each member
/// weighted by spec.weights at its slot's ordinal (1 past the list). The
/// version is left for the RingRegistry to assign. Pure.
ring::RingSpec ringSpecFor(const HashRing& resource, std::vector<ring::Member> members);

/// The members the operator publishes from its records, by ordinal, each of
/// weight 1 (ringSpecFor applies spec.weights) and routed by its state. A slot whose address is not known yet (a
/// Pod not yet scheduled) keeps its points, NotReady at its address in
/// `lastAddress` (the ring in force), so no other key moves meanwhile; a slot
/// with neither is left out. Pure.
std::vector<ring::Member> ringMembersOf(const std::map<std::string, ReplicaRecord>& records,
                                        const std::map<std::string, std::string>& lastAddress);

/// The members a HashRing's status records (a follower serves the leader's
/// ring from it); members without an address are left out. Pure.
std::vector<ring::Member> ringMembersOf(const std::vector<MemberStatus>& members);

}  // namespace ringlb::op
