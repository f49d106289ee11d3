#include "ringlb/ring/virtual_node_ring.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

namespace ringlb::ring {
namespace {

std::vector<VirtualNodeRing::Endpoint> endpoints(int n) {
  std::vector<VirtualNodeRing::Endpoint> out;
  for (int i = 0; i < n; ++i) out.push_back({"m-" + std::to_string(i), 1});
  return out;
}

TEST(VirtualNodeRing, PlacesVirtualNodesTimesWeightPoints) {
  const VirtualNodeRing ring({{"a", 1}, {"b", 3}}, 160);
  EXPECT_EQ(ring.positionCount(), 160u * 4);
  for (std::uint32_t i = 1; i < ring.positionCount(); ++i) ASSERT_LE(ring.pointAt(i - 1), ring.pointAt(i));
}

TEST(VirtualNodeRing, BucketIndexAgreesWithPlainBinarySearch) {
  const VirtualNodeRing ring(endpoints(37), 100);
  std::vector<std::uint64_t> points;
  for (std::uint32_t i = 0; i < ring.positionCount(); ++i) points.push_back(ring.pointAt(i));
  std::mt19937_64 random(42);
  std::vector<std::uint64_t> probes = {0, 1, ~0ull, points.front(), points.back(), points.back() + 1};
  for (int i = 0; i < 200000; ++i) probes.push_back(random());
  for (auto p : points) probes.push_back(p), probes.push_back(p - 1), probes.push_back(p + 1);
  for (const auto hash : probes) {
    auto expected = static_cast<std::uint32_t>(std::lower_bound(points.begin(), points.end(), hash) - points.begin());
    if (expected == points.size()) expected = 0;
    ASSERT_EQ(ring.firstPosition(hash), expected) << "hash " << hash;
  }
}

TEST(VirtualNodeRing, SharesAreExactAndSumToOne) {
  const VirtualNodeRing ring(endpoints(10), 160);
  const auto shares = ring.shares();
  EXPECT_NEAR(std::accumulate(shares.begin(), shares.end(), 0.0), 1.0, 1e-12);
  for (const double share : shares) EXPECT_NEAR(share, 0.1, 0.04);
}

TEST(VirtualNodeRing, WeightIsHonoured) {
  const VirtualNodeRing ring({{"light", 1}, {"heavy", 4}}, 400);
  const auto shares = ring.shares();
  EXPECT_NEAR(shares[1] / shares[0], 4.0, 0.6);
}

TEST(VirtualNodeRing, SinglePointOwnsEverything) {
  const VirtualNodeRing ring({{"only", 1}}, 1);
  EXPECT_EQ(ring.shares(), std::vector<double>{1.0});
  EXPECT_EQ(ring.memberAt(ring.firstPosition(0)), 0u);
  EXPECT_EQ(ring.memberAt(ring.firstPosition(~0ull)), 0u);
}

}  // namespace
}  // namespace ringlb::ring
