#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "ringlb/ring/placement.h"

namespace ringlb::ring {

/// AnchorHash (Mendelson et al., IEEE/ACM ToN 2021) over a fixed capacity of
/// `a` buckets, some of them working. Each working bucket belongs to a member
/// (a member of weight w holds w buckets). Removing a bucket moves only the
/// keys it held, spread evenly over the buckets still working; a lookup is
/// O(1) in expectation (about 1 + ln(a / working) hops).
///
/// AnchorHash's state is its removal history. The history is derived from the
/// set of working buckets alone: all `a` start working and the unused ones are
/// removed in decreasing bucket order, so every process builds the same state
/// from the same member list (README.md, "AnchorHash", says what that keeps exact).
///
/// Positions are buckets: firstPosition() is the key's bucket, memberAt(b) the
/// member holding working bucket b. Successors are not the following
/// positions; SuccessorWalk asks for them through AnchorOverlay, which removes
/// the members already yielded as if they had just left.
class AnchorTable final : public Placement {
 public:
  static constexpr std::uint32_t kUnused = std::numeric_limits<std::uint32_t>::max();

  /// A member as the layout sees it: its slot (the number its id ends in) and weight.
  struct Endpoint {
    std::uint32_t slot = 0;
    std::uint32_t weight = 1;
  };

  /// Which member holds each of `capacity` buckets. Member i holds bucket
  /// endpoints[i].slot, and its weight − 1 further buckets are taken from the
  /// top down (a−1, a−2, …) in slot order, then copy order. Throws
  /// std::invalid_argument if slots repeat or the buckets do not fit.
  static std::vector<std::uint32_t> layout(const std::vector<Endpoint>& endpoints, std::uint32_t capacity);

  /// `bucketOwners[b]` is the member index holding bucket b, or kUnused. Its
  /// size is the capacity a. Throws std::invalid_argument when it is empty or
  /// no bucket is working while `memberCount` > 0.
  AnchorTable(std::vector<std::uint32_t> bucketOwners, std::size_t memberCount);

  /// The first bucket of a key: ⌊keyHash · a / 2^64⌋.
  std::uint32_t initialBucket(std::uint64_t keyHash) const noexcept {
    return reduce(keyHash, capacity());
  }

  /// The hash a key uses to leave removed bucket `bucket`: XXH3-64 of the key
  /// hash's 8 little-endian bytes with seed `bucket`. Part of the routing contract.
  static std::uint64_t hopHash(std::uint64_t keyHash, std::uint32_t bucket) noexcept;

  /// ⌊hash · n / 2^64⌋: a value in [0, n).
  static std::uint32_t reduce(std::uint64_t hash, std::uint32_t n) noexcept {
    // The high word of a 64×32-bit product, exactly, in 64-bit arithmetic.
    const std::uint64_t high = (hash >> 32) * n;
    const std::uint64_t low = ((hash & 0xffffffffu) * n) >> 32;
    return static_cast<std::uint32_t>((high + low) >> 32);
  }

  std::uint32_t firstPosition(std::uint64_t hash) const noexcept override;
  std::uint32_t ownerOf(std::uint64_t hash) const noexcept override { return owners_[firstPosition(hash)]; }
  std::uint32_t memberAt(std::uint32_t position) const noexcept override { return owners_[position]; }
  std::uint32_t positionCount() const noexcept override { return working_ == 0 ? 0 : capacity(); }
  /// Each member's share is its working buckets over all working buckets:
  /// AnchorHash's balance property, exact for a uniform hop hash.
  std::vector<double> shares() const override;

  std::uint32_t capacity() const noexcept { return static_cast<std::uint32_t>(owners_.size()); }
  std::uint32_t workingCount() const noexcept { return working_; }
  std::size_t memberCount() const noexcept { return memberCount_; }
  /// A[b]: 0 for a working bucket, else the number of buckets working just after b was removed.
  std::uint32_t anchorOf(std::uint32_t bucket) const noexcept { return anchor_[bucket]; }
  /// K[b]: the bucket that took removed bucket b's place (b itself while working).
  std::uint32_t replacementOf(std::uint32_t bucket) const noexcept { return next_[bucket]; }
  /// W[p]: the working bucket at place p < workingCount().
  std::uint32_t workingAt(std::uint32_t place) const noexcept { return workingAt_[place]; }
  /// L[b]: the place of working bucket b in W.
  std::uint32_t placeOf(std::uint32_t bucket) const noexcept { return placeOf_[bucket]; }
  /// Buckets held by member `index`, highest first (the order a walk removes them in).
  const std::uint32_t* bucketsBegin(std::uint32_t index) const noexcept { return memberBuckets_.data() + memberStart_[index]; }
  const std::uint32_t* bucketsEnd(std::uint32_t index) const noexcept { return memberBuckets_.data() + memberStart_[index + 1]; }

 private:
  void remove(std::uint32_t bucket) noexcept;

  std::vector<std::uint32_t> owners_;
  std::vector<std::uint32_t> anchor_;
  std::vector<std::uint32_t> next_;
  std::vector<std::uint32_t> workingAt_;
  std::vector<std::uint32_t> placeOf_;
  std::vector<std::uint32_t> memberStart_;    // member i's buckets are memberBuckets_[memberStart_[i] …]
  std::vector<std::uint32_t> memberBuckets_;
  std::uint32_t working_ = 0;
  std::size_t memberCount_ = 0;
};

}  // namespace ringlb::ring
