#include "ringlb/ring/maglev_table.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ringlb::ring {
namespace {

// Eisenbud et al., NSDI 2016, Table 1: M = 7, B0 (offset 3, skip 4), B1 (0, 2), B2 (3, 1).
constexpr std::uint32_t B0 = 0, B1 = 1, B2 = 2;

std::vector<std::uint32_t> permutationOf(const MaglevTable::Permutation& p, std::uint32_t m) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t j = 0; j < m; ++j) out.push_back((p.offset + j * p.skip) % m);
  return out;
}

TEST(MaglevTable, ReproducesPaperPermutations) {
  EXPECT_EQ(permutationOf({3, 4, 1}, 7), (std::vector<std::uint32_t>{3, 0, 4, 1, 5, 2, 6}));
  EXPECT_EQ(permutationOf({0, 2, 1}, 7), (std::vector<std::uint32_t>{0, 2, 4, 6, 1, 3, 5}));
  EXPECT_EQ(permutationOf({3, 1, 1}, 7), (std::vector<std::uint32_t>{3, 4, 5, 6, 0, 1, 2}));
}

TEST(MaglevTable, ReproducesPaperTableBeforeAndAfterRemoval) {
  const MaglevTable before({{3, 4, 1}, {0, 2, 1}, {3, 1, 1}}, 7);
  EXPECT_EQ(before.entries(), (std::vector<std::uint32_t>{B1, B0, B1, B0, B2, B2, B0}));

  // Remove B1: the remaining members keep their own permutations (indices 0 -> B0, 1 -> B2).
  const MaglevTable after({{3, 4, 1}, {3, 1, 1}}, 7);
  const std::vector<std::uint32_t> expectedAfter{0, 0, 0, 0, 1, 1, 1};  // [B0,B0,B0,B0,B2,B2,B2]
  EXPECT_EQ(after.entries(), expectedAfter);
}

TEST(MaglevTable, EqualWeightsGiveFloorOrCeilOfMOverN) {
  constexpr std::uint32_t kM = 65537;
  constexpr std::uint32_t kN = 1000;
  std::vector<MaglevTable::Permutation> permutations;
  for (std::uint32_t i = 0; i < kN; ++i) {
    permutations.push_back(MaglevTable::permutationFor("m-" + std::to_string(i), 1, kM));
  }
  const MaglevTable table(permutations, kM);
  std::vector<std::uint32_t> counts(kN, 0);
  for (const auto member : table.entries()) ++counts[member];
  const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
  EXPECT_EQ(*lo, kM / kN);
  EXPECT_EQ(*hi, kM / kN + 1);
}

TEST(MaglevTable, WeightsScaleEntries) {
  constexpr std::uint32_t kM = 65537;
  const MaglevTable table({MaglevTable::permutationFor("a", 1, kM), MaglevTable::permutationFor("b", 3, kM)}, kM);
  const auto shares = table.shares();
  EXPECT_NEAR(shares[0], 0.25, 0.001);
  EXPECT_NEAR(shares[1], 0.75, 0.001);
}

TEST(MaglevTable, PermutationForIsDeterministicAndInRange) {
  const auto p = MaglevTable::permutationFor("apod-3", 1, 65537);
  const auto q = MaglevTable::permutationFor("apod-3", 1, 65537);
  EXPECT_EQ(p.offset, q.offset);
  EXPECT_EQ(p.skip, q.skip);
  EXPECT_LT(p.offset, 65537u);
  EXPECT_GE(p.skip, 1u);
  EXPECT_LT(p.skip, 65537u);
}

TEST(MaglevTable, RejectsPermutationsThatCannotCoverTheTable) {
  EXPECT_THROW(MaglevTable({{0, 0, 1}}, 7), std::invalid_argument);
  EXPECT_THROW(MaglevTable({{7, 1, 1}}, 7), std::invalid_argument);
}

}  // namespace
}  // namespace ringlb::ring
