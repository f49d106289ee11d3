#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ringlb/ring/anchor_overlay.h"
#include "ringlb/ring/anchor_table.h"
#include "ringlb/ring/placement.h"

namespace ringlb::ring {

/// Walks the positions after a hash's owner and yields each member index
/// once, in ring order: the owner first, then its distinct successors. It
/// allocates nothing until more than kInlineSeen distinct members have been
/// yielded, which the request path (owner plus a few retries) never reaches.
///
/// Over an AnchorTable the successors are not the following positions: each
/// next member is where the key goes once every member yielded so far has
/// left (AnchorHash's own removal), so a down owner's keys spread evenly.
class SuccessorWalk {
 public:
  SuccessorWalk(const Placement& placement, std::uint64_t hash, std::size_t memberCount) noexcept;
  /// A partly ramped anchor member: it admits a key only when rampDraw(key) < rampPermille.
  struct AnchorRamp {
    std::uint32_t member = 0;
    std::uint32_t rampPermille = 0;
  };

  /// `ramps` (count `rampCount`, ordered by the member's highest bucket,
  /// highest first): the members that do not admit the key leave before the
  /// walk starts, in that order, as they would leave the table's own history,
  /// so a member at ramp 0 moves no key at all; they are never yielded.
  SuccessorWalk(const AnchorTable& table, std::uint64_t hash, const AnchorRamp* ramps = nullptr,
                std::size_t rampCount = 0) noexcept;

  /// Next distinct member index, or nullopt once every member was yielded.
  std::optional<std::uint32_t> next();

  /// Position (ring point, table slot or anchor bucket) of the member last yielded.
  std::uint32_t lastPosition() const noexcept { return lastPosition_; }

 private:
  std::optional<std::uint32_t> nextAfterRemoval();
  bool seen(std::uint32_t member) const noexcept;
  void remember(std::uint32_t member);

  static constexpr std::size_t kInlineSeen = 16;

  const Placement* placement_;
  std::size_t memberCount_;
  std::uint32_t position_ = 0;
  std::uint32_t lastPosition_ = 0;
  std::uint32_t stepsLeft_ = 0;
  std::size_t yielded_ = 0;
  std::array<std::uint32_t, kInlineSeen> inlineSeen_{};
  std::vector<bool> overflowSeen_;
  std::uint64_t hash_ = 0;
  std::uint32_t lastMember_ = 0;
  std::size_t skipped_ = 0;  // anchor: members that did not admit the key (removed, never yielded)
  std::optional<AnchorOverlay> anchor_;  // set for an AnchorTable
};

}  // namespace ringlb::ring
