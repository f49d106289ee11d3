#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/ring/placement.h"

namespace ringlb::ring {

/// Ketama-style ring: each member gets `virtualNodes × weight` points on the
/// 64-bit circle at pointHash(id, k) for k = 0 … count−1 (the first
/// ⌊virtualNodes × weight × rampPermille / 1000⌋ of them while it ramps, so a
/// ramp only adds or removes that member's own points). A hash is owned by the
/// first point at or after it, wrapping. A bucket index over the top bits of
/// the hash narrows the binary search so a lookup is O(1) in expectation.
class VirtualNodeRing final : public Placement {
 public:
  struct Endpoint {
    std::string id;
    std::uint32_t weight = 1;
    std::uint32_t rampPermille = 1000;
  };

  VirtualNodeRing(const std::vector<Endpoint>& endpoints, std::uint32_t virtualNodes);

  /// Position of point `index` of member `id`: XXH3-64 of the 16 bytes
  /// le64(XXH3-64(id)) ‖ le64(index). Part of the routing contract.
  static std::uint64_t pointHash(std::string_view id, std::uint64_t index) noexcept;

  std::uint32_t firstPosition(std::uint64_t hash) const noexcept override;
  std::uint32_t ownerOf(std::uint64_t hash) const noexcept override;
  std::uint32_t memberAt(std::uint32_t position) const noexcept override { return owners_[position]; }
  std::uint32_t positionCount() const noexcept override { return static_cast<std::uint32_t>(points_.size()); }
  std::vector<double> shares() const override;

  /// Hash of point `position`, for golden tests and /explain.
  std::uint64_t pointAt(std::uint32_t position) const noexcept { return points_[position]; }

 private:
  std::vector<std::uint64_t> points_;  // sorted
  std::vector<std::uint32_t> owners_;  // owners_[i] owns points_[i]
  // Bucket b covers hashes [b << shift, (b + 1) << shift). It records the first
  // point at or after its start, that point's hash and its owner, so a bucket
  // with at most one point inside answers without touching points_ or owners_.
  struct Bucket {
    std::uint64_t firstPoint = 0;
    std::uint32_t position = 0;  // may equal points_.size(), meaning wrap to 0
    std::uint32_t owner = 0;     // owner of position (after wrapping)
  };
  enum class Lookup { Here, Next, Search };
  Lookup classify(std::uint64_t hash, const Bucket& here, const Bucket& next) const noexcept;
  std::uint32_t wrap(std::uint32_t position) const noexcept {
    return position == points_.size() ? 0 : position;
  }

  std::vector<Bucket> buckets_;  // 2^bits + 1 entries
  unsigned bucketShift_ = 64;
  std::size_t memberCount_ = 0;
};

}  // namespace ringlb::ring
