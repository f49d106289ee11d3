#include "ringlb/ring/ring_snapshot.h"

#include <algorithm>
#include <stdexcept>

#include "ringlb/ring/anchor_table.h"
#include "ringlb/ring/maglev_table.h"
#include "ringlb/ring/virtual_node_ring.h"

namespace ringlb::ring {

namespace {

std::unique_ptr<const Placement> buildPlacement(const RingSpec& spec) {
  if (spec.algorithm == Algorithm::Anchor) {
    std::vector<AnchorTable::Endpoint> endpoints;
    endpoints.reserve(spec.members.size());
    for (const auto& member : spec.members) endpoints.push_back({*slotOf(member.id), member.weight});
    auto owners = spec.members.empty() ? std::vector<std::uint32_t>{} : AnchorTable::layout(endpoints, spec.capacity);
    return std::make_unique<AnchorTable>(std::move(owners), spec.members.size());
  }
  if (spec.algorithm == Algorithm::Maglev) {
    std::vector<MaglevTable::Permutation> permutations;
    permutations.reserve(spec.members.size());
    for (const auto& member : spec.members) {
      permutations.push_back(MaglevTable::permutationFor(member.id, member.weight, spec.tableSize));
      permutations.back().rampPermille = member.rampPermille;
    }
    return std::make_unique<MaglevTable>(permutations, spec.tableSize);
  }
  std::vector<VirtualNodeRing::Endpoint> endpoints;
  endpoints.reserve(spec.members.size());
  for (const auto& member : spec.members) endpoints.push_back({member.id, member.weight, member.rampPermille});
  return std::make_unique<VirtualNodeRing>(endpoints, spec.virtualNodes);
}

}  // namespace

Result<std::shared_ptr<const RingSnapshot>> RingSnapshot::build(RingSpec spec) {
  auto valid = validate(std::move(spec));
  if (!valid) return Error{valid.error()};
  return std::shared_ptr<const RingSnapshot>(std::make_shared<RingSnapshot>(std::move(valid).value()));
}

RingSnapshot::RingSnapshot(RingSpec spec) : spec_(std::move(spec)) {
  if (auto valid = validate(spec_); !valid) throw std::invalid_argument(valid.error());
  // Member order on the wire must not change routing: positions are built in id order.
  std::sort(spec_.members.begin(), spec_.members.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
  placement_ = buildPlacement(spec_);
  if (spec_.algorithm == Algorithm::Anchor) {
    // Anchor holds whole buckets: a ramp is applied at lookup (admission), not in the table.
    const auto& table = static_cast<const AnchorTable&>(*placement_);
    for (std::uint32_t i = 0; i < spec_.members.size(); ++i) {
      if (spec_.members[i].rampPermille < kFullRamp) anchorRamps_.push_back({i, spec_.members[i].rampPermille});
    }
    std::sort(anchorRamps_.begin(), anchorRamps_.end(), [&table](const auto& a, const auto& b) {
      return *table.bucketsBegin(a.member) > *table.bucketsBegin(b.member);
    });
  }
  shares_ = anchorRamps_.empty() ? placement_->shares() : sampledShares();
  ready_.reserve(spec_.members.size());
  for (const auto& member : spec_.members) ready_.push_back(member.state == MemberState::Ready ? 1 : 0);
  readyCount_ = static_cast<std::size_t>(std::count(ready_.begin(), ready_.end(), 1));
}

std::optional<std::uint32_t> RingSnapshot::owner(std::uint64_t hash) const noexcept {
  if (placement_->positionCount() == 0) return std::nullopt;
  if (!anchorRamps_.empty()) return walk(hash).next();
  return placement_->ownerOf(hash);
}

std::vector<double> RingSnapshot::sampledShares() const {
  // A ramping member's share depends on the keys' draws: measured, not derived.
  constexpr std::uint64_t kSamples = 1u << 16;
  constexpr std::uint64_t kStride = ~std::uint64_t{0} / kSamples;
  std::vector<double> owned(spec_.members.size(), 0.0);
  if (placement_->positionCount() == 0) return owned;
  for (std::uint64_t i = 0; i < kSamples; ++i) {
    if (const auto index = owner(i * kStride)) owned[*index] += 1.0 / kSamples;
  }
  return owned;
}

std::optional<std::uint32_t> RingSnapshot::indexOf(std::string_view id) const noexcept {
  const auto found = std::lower_bound(spec_.members.begin(), spec_.members.end(), id,
                                      [](const Member& member, std::string_view key) { return member.id < key; });
  if (found == spec_.members.end() || found->id != id) return std::nullopt;
  return static_cast<std::uint32_t>(found - spec_.members.begin());
}

namespace {

bool sameOwner(const RingSnapshot& before, const RingSnapshot& after, std::uint64_t hash) {
  const auto a = before.owner(hash);
  const auto b = after.owner(hash);
  if (!a || !b) return !a && !b;
  return before.members()[*a].id == after.members()[*b].id;
}

// Exact for two virtual-node rings: the owner is constant between consecutive
// points of the union of both point sets, so compare owners at each boundary.
double movedBetweenRings(const RingSnapshot& before, const RingSnapshot& after) {
  const auto& a = static_cast<const VirtualNodeRing&>(before.placement());
  const auto& b = static_cast<const VirtualNodeRing&>(after.placement());
  std::vector<std::uint64_t> boundaries;
  boundaries.reserve(a.positionCount() + b.positionCount());
  for (std::uint32_t i = 0; i < a.positionCount(); ++i) boundaries.push_back(a.pointAt(i));
  for (std::uint32_t i = 0; i < b.positionCount(); ++i) boundaries.push_back(b.pointAt(i));
  std::sort(boundaries.begin(), boundaries.end());
  boundaries.erase(std::unique(boundaries.begin(), boundaries.end()), boundaries.end());
  if (boundaries.size() == 1) return sameOwner(before, after, boundaries[0]) ? 0.0 : 1.0;
  constexpr long double kCircle = 18446744073709551616.0L;
  long double moved = 0;
  for (std::size_t i = 0; i < boundaries.size(); ++i) {
    if (sameOwner(before, after, boundaries[i])) continue;
    const std::uint64_t previous = boundaries[i == 0 ? boundaries.size() - 1 : i - 1];
    moved += static_cast<long double>(boundaries[i] - previous) / kCircle;
  }
  return static_cast<double>(moved);
}

}  // namespace

double movedKeyspace(const RingSnapshot& before, const RingSnapshot& after) {
  if (before.empty() && after.empty()) return 0.0;
  if (before.empty() || after.empty()) return 1.0;
  const auto& x = before.spec();
  const auto& y = after.spec();
  if (x.algorithm == Algorithm::Ring && y.algorithm == Algorithm::Ring) return movedBetweenRings(before, after);
  if (x.algorithm == Algorithm::Maglev && y.algorithm == Algorithm::Maglev && x.tableSize == y.tableSize) {
    // Same table size: slot i covers the same hashes in both tables.
    std::uint64_t moved = 0;
    for (std::uint32_t slot = 0; slot < x.tableSize; ++slot) {
      moved += before.members()[before.placement().memberAt(slot)].id !=
               after.members()[after.placement().memberAt(slot)].id;
    }
    return static_cast<double>(moved) / x.tableSize;
  }
  // Anchor, or different algorithms: estimate on evenly spread hashes.
  constexpr std::uint64_t kSamples = 1u << 18;
  constexpr std::uint64_t kStride = ~std::uint64_t{0} / kSamples;
  std::uint64_t moved = 0;
  for (std::uint64_t i = 0; i < kSamples; ++i) moved += !sameOwner(before, after, i * kStride);
  return static_cast<double>(moved) / kSamples;
}

}  // namespace ringlb::ring
