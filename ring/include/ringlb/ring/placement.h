#pragma once

#include <cstdint>
#include <vector>

namespace ringlb::ring {

/// A consistent-hashing algorithm reduced to what picking needs: a circular
/// sequence of positions, each owned by a member index. The owner of a hash is
/// the member at `firstPosition(hash)`; its successors are found by walking
/// the following positions. Implementations are immutable after construction
/// and safe to share between threads.
class Placement {
 public:
  virtual ~Placement() = default;

  /// Position that owns `hash`. Requires positionCount() > 0.
  virtual std::uint32_t firstPosition(std::uint64_t hash) const noexcept = 0;

  /// Member index owning `hash`; equal to memberAt(firstPosition(hash)) but
  /// may be cheaper. Requires positionCount() > 0.
  virtual std::uint32_t ownerOf(std::uint64_t hash) const noexcept = 0;

  /// Member index (into the sorted member list) owning position `position`.
  virtual std::uint32_t memberAt(std::uint32_t position) const noexcept = 0;

  /// Number of positions; 0 for an empty ring.
  virtual std::uint32_t positionCount() const noexcept = 0;

  /// Exact fraction of the 64-bit hash space owned by each member.
  virtual std::vector<double> shares() const = 0;
};

}  // namespace ringlb::ring
