#include "ringlb/ring/ring_simulator.h"

#include <cmath>

#include <gtest/gtest.h>

namespace ringlb::ring {
namespace {

// Lamping & Veach (2014): standard error of a bucket's share with k points per bucket.
struct BalanceCase {
  std::uint32_t virtualNodes;
  double expected;
};

class RingBalance : public ::testing::TestWithParam<BalanceCase> {};

TEST_P(RingBalance, ShareDeviationFollowsOneOverSqrtV) {
  SimulationOptions options;
  options.members = 1000;
  options.virtualNodes = GetParam().virtualNodes;
  options.keys = 1000;
  const auto report = simulate(options);
  EXPECT_NEAR(report.shareStddevRel, GetParam().expected, GetParam().expected * 0.15)
      << "V=" << GetParam().virtualNodes;
}

INSTANTIATE_TEST_SUITE_P(LamepingVeach, RingBalance,
                         ::testing::Values(BalanceCase{10, 0.315}, BalanceCase{100, 0.0997}, BalanceCase{1000, 0.0316}),
                         [](const auto& p) { return "V" + std::to_string(p.param.virtualNodes); });

TEST(RingSimulator, RingMovesOnlyTheChangedMembersKeys) {
  SimulationOptions options;
  options.members = 10;
  options.virtualNodes = 160;
  options.keys = 1'000'000;
  const auto report = simulate(options);
  EXPECT_EQ(report.movedUnaffected, 0.0);
  EXPECT_NEAR(report.movedOnAdd, 1.0 / 11, 0.2 / 11);
  EXPECT_NEAR(report.movedOnRemove, 1.0 / 10, 0.2 / 10);
}

TEST(RingSimulator, MaglevDisruptionIsSmallButNonZero) {
  SimulationOptions options;
  options.algorithm = Algorithm::Maglev;
  options.members = 10;
  options.keys = 200'000;
  const auto report = simulate(options);
  EXPECT_NEAR(report.movedOnAdd, 1.0 / 11, 0.3 / 11);
  EXPECT_LT(report.movedUnaffected, 0.02);
  EXPECT_LT(report.maxOverMean, 1.001);
}

// AnchorHash at twice the members in buckets: perfect balance, only the
// changed member's keys move, and a join takes 1/(N+1) of the keys.
class AnchorSimulation : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(AnchorSimulation, BalancedWithNoCollateralMovement) {
  SimulationOptions options;
  options.algorithm = Algorithm::Anchor;
  options.members = GetParam();
  // 1/(N+1) ± 10% is over 3 standard deviations of the moved count at these sizes.
  options.keys = GetParam() >= 1000 ? 1'000'000 : 200'000;
  const auto report = simulate(options);
  const double n = GetParam();
  EXPECT_LE(report.maxOverMean, 1.01);
  EXPECT_EQ(report.movedUnaffected, 0.0);
  EXPECT_NEAR(report.movedOnAdd, 1.0 / (n + 1), 0.1 / (n + 1));
  EXPECT_NEAR(report.movedOnRemove, 1.0 / n, 0.1 / n);
  // Sampled keys: within 5 binomial standard deviations of the mean per member.
  const double mean = options.keys / n;
  EXPECT_LE(report.keysPeakOverMean, 1.0 + 5.0 * std::sqrt(mean) / mean);
}

INSTANTIATE_TEST_SUITE_P(Members, AnchorSimulation, ::testing::Values(10u, 1000u),
                         [](const auto& p) { return "N" + std::to_string(p.param); });

class BoundedLoads : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(BoundedLoads, PeakOverMeanStaysWithinLoadFactor) {
  for (auto algorithm : {Algorithm::Ring, Algorithm::Maglev, Algorithm::Anchor}) {
    SimulationOptions options;
    options.algorithm = algorithm;
    options.members = GetParam();
    options.keys = 100'000;
    options.loadFactor = 1.25;
    const auto report = simulate(options);
    ASSERT_TRUE(report.boundedPeakOverMean.has_value());
    EXPECT_LE(*report.boundedPeakOverMean, 1.25);
    EXPECT_GE(*report.boundedPeakOverMean, 1.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Members, BoundedLoads, ::testing::Values(10u, 100u),
                         [](const auto& p) { return "N" + std::to_string(p.param); });

TEST(RingSimulator, WithoutLoadFactorThereIsNoBoundedFigure) {
  SimulationOptions options;
  options.members = 5;
  options.keys = 100;
  EXPECT_FALSE(simulate(options).boundedPeakOverMean.has_value());
}

TEST(RingSimulator, RejectsZeroMembers) {
  SimulationOptions options;
  options.members = 0;
  EXPECT_THROW(simulate(options), std::invalid_argument);
}

}  // namespace
}  // namespace ringlb::ring
