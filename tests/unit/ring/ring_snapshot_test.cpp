#include "ringlb/ring/ring_snapshot.h"

#include <algorithm>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "ringlb/ring/hash.h"

namespace ringlb::ring {
namespace {

RingSpec makeSpec(Algorithm algorithm, int n) {
  RingSpec spec;
  spec.name = "test";
  spec.version = 1;
  spec.algorithm = algorithm;
  for (int i = 0; i < n; ++i) spec.members.push_back({"m-" + std::to_string(i), "127.0.0.1:" + std::to_string(9000 + i), 1, MemberState::Ready});
  return spec;
}

class RingSnapshotTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(RingSnapshotTest, MemberOrderOnTheWireDoesNotChangeRouting) {
  RingSpec spec = makeSpec(GetParam(), 25);
  const RingSnapshot ordered(spec);
  std::shuffle(spec.members.begin(), spec.members.end(), std::mt19937(7));
  const RingSnapshot shuffled(spec);
  for (int i = 0; i < 20000; ++i) {
    const auto hash = hashKey("k" + std::to_string(i));
    ASSERT_EQ(ordered.members()[*ordered.owner(hash)].id, shuffled.members()[*shuffled.owner(hash)].id);
  }
}

TEST_P(RingSnapshotTest, WalkYieldsEveryMemberOnceOwnerFirst) {
  const RingSnapshot ring(makeSpec(GetParam(), 12));
  for (int i = 0; i < 200; ++i) {
    const auto hash = hashKey("w" + std::to_string(i));
    auto walk = ring.walk(hash);
    std::vector<std::uint32_t> order;
    while (auto index = walk.next()) order.push_back(*index);
    ASSERT_EQ(order.size(), 12u);
    ASSERT_EQ(order.front(), *ring.owner(hash));
    ASSERT_EQ(std::set<std::uint32_t>(order.begin(), order.end()).size(), 12u);
  }
}

TEST_P(RingSnapshotTest, WalkBeyondInlineCapacityStillDistinct) {
  const RingSnapshot ring(makeSpec(GetParam(), 100));
  auto walk = ring.walk(12345);
  std::set<std::uint32_t> seen;
  while (auto index = walk.next()) ASSERT_TRUE(seen.insert(*index).second);
  EXPECT_EQ(seen.size(), 100u);
}

TEST_P(RingSnapshotTest, NotReadyMemberMovesOnlyItsOwnKeys) {
  RingSpec spec = makeSpec(GetParam(), 10);
  const RingSnapshot healthy(spec);
  spec.members[3].state = MemberState::NotReady;
  spec.version = 2;
  const RingSnapshot degraded(spec);
  int movedKeys = 0;
  for (int i = 0; i < 100000; ++i) {
    const auto hash = hashKey("key-" + std::to_string(i));
    const auto& before = healthy.members()[*healthy.pickReady(hash)].id;
    const auto& after = degraded.members()[*degraded.pickReady(hash)].id;
    if (before != after) {
      ++movedKeys;
      ASSERT_EQ(before, "m-3");
    }
    ASSERT_NE(after, "m-3");
  }
  EXPECT_GT(movedKeys, 5000);
}

TEST_P(RingSnapshotTest, PickReadyFallsThroughToSuccessor) {
  RingSpec spec = makeSpec(GetParam(), 3);
  for (auto& member : spec.members) member.state = MemberState::Draining;
  spec.members[1].state = MemberState::Ready;
  const RingSnapshot ring(spec);
  EXPECT_EQ(ring.readyCount(), 1u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ring.members()[*ring.pickReady(hashKey(std::to_string(i)))].id, "m-1");
}

TEST_P(RingSnapshotTest, NoReadyMemberPicksNothing) {
  RingSpec spec = makeSpec(GetParam(), 3);
  for (auto& member : spec.members) member.state = MemberState::NotReady;
  const RingSnapshot ring(spec);
  EXPECT_FALSE(ring.pickReady(1).has_value());
  EXPECT_TRUE(ring.owner(1).has_value());
}

TEST_P(RingSnapshotTest, EmptyRingOwnsNothing) {
  const RingSnapshot ring(makeSpec(GetParam(), 0));
  EXPECT_TRUE(ring.empty());
  EXPECT_FALSE(ring.owner(42).has_value());
  EXPECT_FALSE(ring.pickReady(42).has_value());
  auto walk = ring.walk(42);
  EXPECT_FALSE(walk.next().has_value());
}

TEST_P(RingSnapshotTest, MovedKeyspaceOnAddEqualsNewMembersShare) {
  const RingSnapshot before(makeSpec(GetParam(), 10));
  const RingSnapshot after(makeSpec(GetParam(), 11));
  const double newShare = after.shares()[*after.indexOf("m-10")];
  if (GetParam() == Algorithm::Ring) {
    EXPECT_NEAR(movedKeyspace(before, after), newShare, 1e-9);
  } else if (GetParam() == Algorithm::Anchor) {
    // Estimated on 2^18 hashes: only the newcomer's keys move.
    EXPECT_NEAR(movedKeyspace(before, after), newShare, newShare * 0.05);
  } else {
    EXPECT_GE(movedKeyspace(before, after), newShare);
    EXPECT_LT(movedKeyspace(before, after), newShare * 1.5);
  }
  EXPECT_EQ(movedKeyspace(before, before), 0.0);
}

TEST_P(RingSnapshotTest, IndexOfFindsSortedMembers) {
  const RingSnapshot ring(makeSpec(GetParam(), 12));
  for (std::uint32_t i = 0; i < ring.members().size(); ++i) EXPECT_EQ(ring.indexOf(ring.members()[i].id), i);
  EXPECT_FALSE(ring.indexOf("absent").has_value());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RingSnapshotTest, ::testing::Values(Algorithm::Ring, Algorithm::Maglev, Algorithm::Anchor),
                         [](const auto& p) { return std::string(toString(p.param)); });

TEST(RingSnapshot, BuildRejectsInvalidSpecWithFieldName) {
  RingSpec spec = makeSpec(Algorithm::Ring, 2);
  spec.members[1].id = spec.members[0].id;
  const auto built = RingSnapshot::build(spec);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().find("members[1].id"), std::string::npos) << built.error();
  EXPECT_THROW(RingSnapshot{spec}, std::invalid_argument);
}

}  // namespace
}  // namespace ringlb::ring
