#include "ringlb/ring/successor_walk.h"

#include "ringlb/ring/hash.h"

#include <algorithm>

namespace ringlb::ring {

SuccessorWalk::SuccessorWalk(const Placement& placement, std::uint64_t hash, std::size_t memberCount) noexcept
    : placement_(&placement), memberCount_(memberCount), stepsLeft_(placement.positionCount()) {
  if (stepsLeft_ > 0) position_ = placement.firstPosition(hash);
}

SuccessorWalk::SuccessorWalk(const AnchorTable& table, std::uint64_t hash, const AnchorRamp* ramps,
                             std::size_t rampCount) noexcept
    : placement_(&table), memberCount_(table.memberCount()), hash_(hash) {
  anchor_.emplace(table);
  if (rampCount == 0) return;
  const std::uint32_t draw = rampDraw(hash);
  for (std::size_t i = 0; i < rampCount; ++i) {
    // The last member is never removed (the overlay needs a working bucket); a valid ring has one fully in.
    if (draw < ramps[i].rampPermille || skipped_ + 1 >= memberCount_) continue;
    anchor_->removeMember(ramps[i].member);
    ++skipped_;
  }
}

std::optional<std::uint32_t> SuccessorWalk::nextAfterRemoval() {
  if (yielded_ + skipped_ >= memberCount_) return std::nullopt;
  if (yielded_ > 0) anchor_->removeMember(lastMember_);
  const std::uint32_t bucket = anchor_->lookup(hash_);
  if (bucket == AnchorTable::kUnused) return std::nullopt;
  lastMember_ = placement_->memberAt(bucket);
  lastPosition_ = bucket;
  ++yielded_;
  return lastMember_;
}

bool SuccessorWalk::seen(std::uint32_t member) const noexcept {
  if (!overflowSeen_.empty()) return overflowSeen_[member];
  const auto end = inlineSeen_.begin() + static_cast<std::ptrdiff_t>(yielded_);
  return std::find(inlineSeen_.begin(), end, member) != end;
}

void SuccessorWalk::remember(std::uint32_t member) {
  if (overflowSeen_.empty() && yielded_ < kInlineSeen) {
    inlineSeen_[yielded_] = member;
  } else {
    if (overflowSeen_.empty()) {
      overflowSeen_.assign(memberCount_, false);
      for (std::size_t i = 0; i < yielded_; ++i) overflowSeen_[inlineSeen_[i]] = true;
    }
    overflowSeen_[member] = true;
  }
  ++yielded_;
}

std::optional<std::uint32_t> SuccessorWalk::next() {
  if (anchor_) return nextAfterRemoval();
  const std::uint32_t positions = placement_->positionCount();
  while (stepsLeft_ > 0 && yielded_ < memberCount_) {
    const std::uint32_t position = position_;
    const std::uint32_t member = placement_->memberAt(position);
    position_ = position + 1 == positions ? 0 : position + 1;
    --stepsLeft_;
    if (seen(member)) continue;
    remember(member);
    lastPosition_ = position;
    return member;
  }
  return std::nullopt;
}

}  // namespace ringlb::ring
