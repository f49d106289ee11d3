#pragma once

#include <cstdint>

#include "ringlb/ring/ring_spec.h"

namespace ringlb::op {

/// One step of a paced rollout: the ring to publish and the keyspace it moves.
struct RolloutStep {
  ring::RingSpec spec;       // the ring to publish (version left to the registry)
  double movedKeyspace = 0;  // measured by ring::movedKeyspace against the ring in force
  bool settled = true;       // every member is at its goal ramp: no further step is due
};

/// The next ring on the way from `current` (the ring in force; null when none)
/// to `desired`. `desired` holds the membership wanted now, each member's
/// rampPermille being its goal: 1000 (fully in) or 0 (leaving, ramped down
/// before it is removed). A member new to the ring enters at ramp 0 (at once at
/// its goal when nothing is in force yet); a member of both keeps its current
/// ramp unless `stepDue`. A member that is not Ready does not ramp up.
///
/// With `stepDue`, every member away from its goal moves the same number of
/// permille towards it, the largest number for which the keyspace moved
/// (ring::movedKeyspace, the library's own placement) stays within `pace` (a
/// fraction of the keyspace, > 0). When even one permille moves more (maglev
/// rebuilding its table, or a change that is not a ramp, such as a weight),
/// that smallest step is taken anyway, so a rollout always ends. Pure.
RolloutStep nextRolloutStep(const ring::RingSpec* current, ring::RingSpec desired, double pace, bool stepDue);

}  // namespace ringlb::op
