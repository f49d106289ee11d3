#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringlb/ring/placement.h"

namespace ringlb::ring {

/// Maglev lookup table (Eisenbud et al., NSDI 2016, section 3.4). Each member
/// walks its own permutation of the M slots, (offset + j·skip) mod M, and the
/// members take turns claiming their next free slot until the table is full.
/// Weights scale how many turns a member takes per round.
class MaglevTable final : public Placement {
 public:
  /// A member's permutation parameters; explicit so the paper's example can be reproduced.
  struct Permutation {
    std::uint32_t offset = 0;
    std::uint32_t skip = 1;
    std::uint32_t weight = 1;
    std::uint32_t rampPermille = 1000;  // turns per round are weight × rampPermille / 1000
  };

  /// The permutation derived from a member id: offset = h1(id) mod M,
  /// skip = h2(id) mod (M − 1) + 1, with h1/h2 being XXH3-64 with two seeds.
  static Permutation permutationFor(const std::string& id, std::uint32_t weight, std::uint32_t tableSize);

  /// `tableSize` must be prime. Member i of `permutations` is member index i.
  MaglevTable(const std::vector<Permutation>& permutations, std::uint32_t tableSize);

  std::uint32_t firstPosition(std::uint64_t hash) const noexcept override {
    return static_cast<std::uint32_t>(hash % table_.size());
  }
  std::uint32_t ownerOf(std::uint64_t hash) const noexcept override { return table_[hash % table_.size()]; }
  std::uint32_t memberAt(std::uint32_t position) const noexcept override { return table_[position]; }
  std::uint32_t positionCount() const noexcept override { return static_cast<std::uint32_t>(table_.size()); }
  std::vector<double> shares() const override;

  const std::vector<std::uint32_t>& entries() const noexcept { return table_; }

 private:
  std::vector<std::uint32_t> table_;
  std::size_t memberCount_ = 0;
};

}  // namespace ringlb::ring
