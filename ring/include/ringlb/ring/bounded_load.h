#pragma once

#include <cstdint>
#include <optional>

#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::ring {

/// Live in-flight request counts per member index, fed by the caller (the
/// proxy keeps them per worker or in atomics).
class LoadView {
 public:
  virtual ~LoadView() = default;

  /// Requests in flight to member `index` now.
  virtual std::uint64_t inFlight(std::uint32_t index) const noexcept = 0;

  /// Requests in flight over all members.
  virtual std::uint64_t totalInFlight() const noexcept = 0;
};

/// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2016),
/// as a policy over any placement: walk the successors of the key's owner and
/// take the first eligible member whose load is below
/// ceil(c · (total + 1) / eligibleMembers).
class BoundedLoadPolicy {
 public:
  struct Choice {
    std::uint32_t index = 0;
    bool spilled = false;  // the owner (first eligible) was over capacity
  };

  /// `loadFactor` c must be > 1; values ≤ 1 are raised to 1 (strict balance).
  explicit BoundedLoadPolicy(double loadFactor) noexcept;

  /// Per-member capacity for the next request.
  std::uint64_t capacity(std::uint64_t totalInFlight, std::size_t eligibleMembers) const noexcept;

  /// Picks the member for `hash`. `eligible(index)` filters members (Ready,
  /// not ejected); `eligibleCount` is how many pass it. When every eligible
  /// member is at capacity (possible only under concurrent updates) the first
  /// eligible one is chosen. Returns nullopt when none is eligible.
  template <class Eligible>
  std::optional<Choice> pick(const RingSnapshot& ring, std::uint64_t hash, const LoadView& load,
                             std::size_t eligibleCount, Eligible&& eligible) const {
    if (ring.empty() || eligibleCount == 0) return std::nullopt;
    const std::uint64_t limit = capacity(load.totalInFlight(), eligibleCount);
    std::optional<std::uint32_t> firstEligible;
    SuccessorWalk successors = ring.walk(hash);
    while (auto index = successors.next()) {
      if (!eligible(*index)) continue;
      if (!firstEligible) firstEligible = index;
      if (load.inFlight(*index) < limit) return Choice{*index, *index != *firstEligible};
    }
    if (firstEligible) return Choice{*firstEligible, false};
    return std::nullopt;
  }

  double loadFactor() const noexcept { return loadFactor_; }

 private:
  double loadFactor_;
};

}  // namespace ringlb::ring
