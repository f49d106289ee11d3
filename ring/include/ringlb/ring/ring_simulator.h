#pragma once

#include <cstdint>
#include <optional>

#include "ringlb/ring/ring_spec.h"

namespace ringlb::ring {

struct SimulationOptions {
  Algorithm algorithm = Algorithm::Ring;
  std::uint32_t members = 10;  // named m-0 … m-(members−1)
  std::uint32_t virtualNodes = kDefaultVirtualNodes;
  std::uint32_t tableSize = kDefaultMaglevTableSize;
  std::uint32_t capacity = 0;    // anchor buckets; 0: 2 × (members + 1)
  std::uint64_t keys = 100'000;  // sampled keys "key-0" … for the movement and load figures
  double loadFactor = 0.0;        // > 0 adds the bounded-load simulation
};

/// The figures `ringctl sim` reports. Each means one thing:
struct SimulationReport {
  double shareStddevRel = 0;   // stddev of exact hash-space shares / mean share
  double maxOverMean = 0;      // largest exact share / mean share
  double keysPeakOverMean = 0;  // most sampled keys on one member / mean keys per member (includes sampling noise)
  double movedOnAdd = 0;       // fraction of keys whose owner changes when m-N joins
  double movedOnRemove = 0;    // fraction of keys whose owner changes when m-(N/2) leaves
  double movedUnaffected = 0;  // fraction of the 2·K add/remove samples that moved between two members
                               // neither of which was the one that joined or left
  std::optional<double> boundedPeakOverMean;  // with loadFactor: peak in-flight / mean when every key holds one request
};

/// Runs the simulation. Throws std::invalid_argument for impossible options (0 members, non-prime table).
SimulationReport simulate(const SimulationOptions& options);

}  // namespace ringlb::ring
