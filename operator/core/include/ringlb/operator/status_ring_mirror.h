#pragma once

#include "ringlb/base/result.h"
#include "ringlb/operator/resource_source.h"
#include "ringlb/operator/ring_registry.h"

namespace ringlb::op {

/// What a follower (an operator replica that does not lead) serves: the ring
/// the leader recorded in a HashRing's status, at exactly status.ringVersion,
/// so every replica answers a ring with the same version. A deleted HashRing
/// is withdrawn; a status no leader wrote yet, or older than the ring served,
/// changes nothing. Returns an Error when the recorded ring cannot be served.
/// Thread-safe (as the registry is).
Status mirrorRingFromStatus(RingRegistry& registry, const ResourceEvent& event);

}  // namespace ringlb::op
