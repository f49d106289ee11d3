#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "ringlb/ring/placement.h"
#include "ringlb/base/result.h"
#include "ringlb/ring/ring_spec.h"
#include "ringlb/ring/successor_walk.h"

namespace ringlb::ring {

/// An immutable, fully built ring: the spec it came from (members sorted by
/// id, so member order on the wire never changes routing), the placement, and
/// each member's exact share of the hash space. Built once off the hot path
/// and shared as shared_ptr<const RingSnapshot>; every method is const and
/// safe to call from any thread.
class RingSnapshot {
 public:
  /// Validates and builds. Returns an Error naming the bad field instead of a ring.
  static Result<std::shared_ptr<const RingSnapshot>> build(RingSpec spec);

  /// Builds from a spec that already passed validate(); throws std::invalid_argument otherwise.
  explicit RingSnapshot(RingSpec spec);

  const RingSpec& spec() const noexcept { return spec_; }
  std::uint64_t version() const noexcept { return spec_.version; }
  const std::vector<Member>& members() const noexcept { return spec_.members; }
  bool empty() const noexcept { return spec_.members.empty(); }
  std::size_t readyCount() const noexcept { return readyCount_; }

  /// Member index that owns `hash` regardless of state, or nullopt when empty.
  std::optional<std::uint32_t> owner(std::uint64_t hash) const noexcept;

  /// The owner and its distinct successors, in ring order.
  SuccessorWalk walk(std::uint64_t hash) const noexcept {
    if (spec_.algorithm == Algorithm::Anchor) {
      return {static_cast<const AnchorTable&>(*placement_), hash, anchorRamps_.data(), anchorRamps_.size()};
    }
    return {*placement_, hash, spec_.members.size()};
  }

  /// First member in ring order from `hash` for which `accept(index)` holds.
  template <class Accept>
  std::optional<std::uint32_t> pick(std::uint64_t hash, Accept&& accept) const {
    if (empty()) return std::nullopt;
    SuccessorWalk successors = walk(hash);
    while (auto index = successors.next()) {
      if (accept(*index)) return index;
    }
    return std::nullopt;
  }

  /// First Ready member in ring order from `hash`. The common case (the owner
  /// is Ready) touches only the placement's index and a compact state array.
  std::optional<std::uint32_t> pickReady(std::uint64_t hash) const {
    if (empty()) return std::nullopt;
    const std::uint32_t owner = placement_->ownerOf(hash);
    // A key whose owner is fully in stays there whatever the ramping members do (they only lose keys).
    if (ready_[owner] && (anchorRamps_.empty() || spec_.members[owner].rampPermille >= kFullRamp)) return owner;
    return pick(hash, [this](std::uint32_t index) { return ready_[index] != 0; });
  }

  /// Whether member `index` is Ready, from a compact array (hot path).
  bool isReady(std::uint32_t index) const noexcept { return ready_[index] != 0; }

  /// Exact fraction of the hash space each member owns (indexed like members()).
  const std::vector<double>& shares() const noexcept { return shares_; }

  std::optional<std::uint32_t> indexOf(std::string_view id) const noexcept;

  const Placement& placement() const noexcept { return *placement_; }

 private:
  RingSpec spec_;
  std::unique_ptr<const Placement> placement_;
  std::vector<double> shares_;
  std::vector<double> sampledShares() const;

  std::vector<std::uint8_t> ready_;  // ready_[i] == members()[i].state is Ready
  std::vector<SuccessorWalk::AnchorRamp> anchorRamps_;  // anchor: members below kFullRamp, highest bucket first
  std::size_t readyCount_ = 0;
};

/// Fraction of the hash space whose owner differs between two rings, judged by
/// member id (not state). Used for the operator's moved-keyspace metric.
double movedKeyspace(const RingSnapshot& before, const RingSnapshot& after);

}  // namespace ringlb::ring
