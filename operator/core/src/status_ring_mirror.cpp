#include "ringlb/operator/status_ring_mirror.h"

#include "ringlb/operator/ring_spec_mapping.h"

namespace ringlb::op {

Status mirrorRingFromStatus(RingRegistry& registry, const ResourceEvent& event) {
  if (event.kind == ResourceEvent::Kind::Deleted) return registry.remove(event.key);
  if (event.kind != ResourceEvent::Kind::Upserted || !event.ring) return ok();
  const HashRing& ring = *event.ring;
  if (ring.status.ringVersion == 0) return ok();  // no leader has published it yet
  ring::RingSpec spec = ringSpecFor(ring, ringMembersOf(ring.status.members));
  spec.version = ring.status.ringVersion;
  auto mirrored = registry.mirror(event.key, std::move(spec));
  if (!mirrored) return mirrored.failure();
  return ok();
}

}  // namespace ringlb::op
