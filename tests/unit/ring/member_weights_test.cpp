// Weights are honoured by every algorithm: 1:2:4 gives shares of 1/7, 2/7, 4/7.
#include <gtest/gtest.h>

#include "ringlb/ring/hash.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::ring {
namespace {

RingSnapshot weighted(Algorithm algorithm) {
  RingSpec spec;
  // A ring's share error is about 1/sqrt(points): at the default 160 points per
  // unit of weight the weight-1 member is 6.9% over 1/7, at 1000 it is 1.4% under.
  spec.virtualNodes = 1000;
  spec.name = "weights";
  spec.version = 1;
  spec.algorithm = algorithm;
  const std::uint32_t weights[] = {1, 2, 4};
  for (std::uint32_t i = 0; i < 3; ++i) {
    spec.members.push_back({"apod-" + std::to_string(i), "127.0.0.1:" + std::to_string(9000 + i), weights[i], MemberState::Ready});
  }
  return RingSnapshot(spec);
}

class MemberWeights : public ::testing::TestWithParam<Algorithm> {};

TEST_P(MemberWeights, OneTwoFourGivesSharesWithinFivePercent) {
  const RingSnapshot ring = weighted(GetParam());
  const double expected[] = {1.0 / 7, 2.0 / 7, 4.0 / 7};
  std::vector<double> counted(3, 0.0);
  constexpr int kKeys = 200'000;
  for (int i = 0; i < kKeys; ++i) counted[*ring.owner(hashKey("key-" + std::to_string(i)))] += 1.0 / kKeys;
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(ring.shares()[i], expected[i], expected[i] * 0.05) << ring.members()[i].id << " hash-space share";
    EXPECT_NEAR(counted[i], expected[i], expected[i] * 0.05) << ring.members()[i].id << " share of sampled keys";
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, MemberWeights,
                         ::testing::Values(Algorithm::Ring, Algorithm::Maglev, Algorithm::Anchor),
                         [](const auto& p) { return std::string(toString(p.param)); });

}  // namespace
}  // namespace ringlb::ring
