// A ramping member (rampPermille < 1000) takes that part of its share, with
// every algorithm; keys only ever move to or from the ramping member (ring,
// anchor), and raising the ramp only adds keys to it.
#include <gtest/gtest.h>

#include "ringlb/ring/hash.h"
#include "ringlb/ring/ring_snapshot.h"
#include "ringlb/ring/wire_format.h"

namespace ringlb::ring {
namespace {

RingSpec ringOf(Algorithm algorithm, std::uint32_t members) {
  RingSpec spec;
  spec.name = "ramp";
  spec.version = 1;
  spec.algorithm = algorithm;
  spec.capacity = 64;
  for (std::uint32_t i = 0; i < members; ++i) {
    spec.members.push_back({"apod-" + std::to_string(i), "127.0.0.1:" + std::to_string(9000 + i), 1, MemberState::Ready});
  }
  return spec;
}

RingSnapshot withFourthAt(Algorithm algorithm, std::uint32_t permille) {
  RingSpec spec = ringOf(algorithm, 4);
  spec.members[3].rampPermille = permille;
  return RingSnapshot(spec);
}

class MemberRamp : public ::testing::TestWithParam<Algorithm> {};

TEST_P(MemberRamp, ShareFollowsTheRamp) {
  for (const std::uint32_t permille : {0u, 250u, 500u, 750u, 1000u}) {
    const RingSnapshot ring = withFourthAt(GetParam(), permille);
    std::uint32_t owned = 0;
    constexpr int kKeys = 100'000;
    for (int i = 0; i < kKeys; ++i) owned += *ring.owner(hashKey("key-" + std::to_string(i))) == 3;
    const double ramp = permille / 1000.0;
    // ring and maglev weigh the member at ramp × weight among the others; anchor
    // admits that part of the keys its bucket would take.
    const double expected = GetParam() == Algorithm::Anchor ? ramp / 4 : ramp / (3 + ramp);
    // Sampling error of 100,000 keys is under 0.4% of the keyspace at these shares.
    EXPECT_NEAR(static_cast<double>(owned) / kKeys, ring.shares()[3], 0.006) << "rampPermille " << permille;
    // A ring's shares stray from the ideal by about 1/sqrt(points) of themselves.
    const double tolerance = GetParam() == Algorithm::Ring ? 0.03 : 0.01;
    EXPECT_NEAR(ring.shares()[3], expected, tolerance) << "rampPermille " << permille;
  }
}

TEST_P(MemberRamp, RaisingTheRampOnlyAddsKeysToTheRampingMember) {
  const RingSnapshot lower = withFourthAt(GetParam(), 300);
  const RingSnapshot higher = withFourthAt(GetParam(), 600);
  int movedElsewhere = 0;
  int keptByRamping = 0;
  int ownedByRampingBefore = 0;
  for (int i = 0; i < 50'000; ++i) {
    const std::uint64_t hash = hashKey("key-" + std::to_string(i));
    const std::uint32_t before = *lower.owner(hash);
    const std::uint32_t after = *higher.owner(hash);
    if (before == 3) {
      ++ownedByRampingBefore;
      keptByRamping += after == 3;
    }
    movedElsewhere += before != after && after != 3;
  }
  EXPECT_EQ(keptByRamping, ownedByRampingBefore);
  if (GetParam() == Algorithm::Maglev) {
    // Maglev rebuilds its table: a few keys move between the others too (its moved_unaffected).
    EXPECT_LT(movedElsewhere, 50'000 * 0.02);
  } else {
    EXPECT_EQ(movedElsewhere, 0);
  }
}

TEST_P(MemberRamp, AMemberAtZeroMovesNothingOfRingAndAnchor) {
  const RingSnapshot three(ringOf(GetParam(), 3));
  const RingSnapshot fourAtZero = withFourthAt(GetParam(), 0);
  const double moved = movedKeyspace(three, fourAtZero);
  if (GetParam() == Algorithm::Maglev) {
    EXPECT_LT(moved, 0.02);  // the table is rebuilt; no slot goes to the new member
  } else {
    EXPECT_EQ(moved, 0.0);
  }
  EXPECT_EQ(fourAtZero.shares()[3], 0.0);
}

TEST_P(MemberRamp, TheWalkSkipsAMemberThatDoesNotAdmitTheKey) {
  const RingSnapshot ring = withFourthAt(GetParam(), 0);
  for (int i = 0; i < 2'000; ++i) {
    auto walk = ring.walk(hashKey("key-" + std::to_string(i)));
    int yielded = 0;
    while (auto member = walk.next()) {
      EXPECT_NE(*member, 3u);
      ++yielded;
    }
    EXPECT_EQ(yielded, 3);
    EXPECT_NE(*ring.pickReady(hashKey("key-" + std::to_string(i))), 3u);
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, MemberRamp,
                         ::testing::Values(Algorithm::Ring, Algorithm::Maglev, Algorithm::Anchor),
                         [](const auto& p) { return std::string(toString(p.param)); });

TEST(MemberRampWire, RoundTripsAndIsLeftOutAtFullWeight) {
  RingSpec spec = ringOf(Algorithm::Ring, 2);
  spec.capacity = kDefaultAnchorCapacity;  // anchor's alone: a ring spec carries the default
  spec.members[1].rampPermille = 420;
  const std::string text = serializeRing(spec);
  EXPECT_NE(text.find("\"rampPermille\":420"), std::string::npos);
  EXPECT_EQ(text.find("\"rampPermille\""), text.find("\"rampPermille\":420")) << "apod-0 is at full weight: " << text;
  auto parsed = parseRingJson(text);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed.value(), spec);
}

TEST(MemberRampWire, RejectsARampAboveOneThousandOrNoMemberFullyIn) {
  RingSpec over = ringOf(Algorithm::Ring, 2);
  over.members[1].rampPermille = 1001;
  auto rejected = validate(over);
  ASSERT_FALSE(rejected);
  EXPECT_NE(rejected.error().find("members[1].rampPermille"), std::string::npos) << rejected.error();

  RingSpec none = ringOf(Algorithm::Maglev, 2);
  none.members[0].rampPermille = 500;
  none.members[1].rampPermille = 0;
  rejected = validate(none);
  ASSERT_FALSE(rejected);
  EXPECT_NE(rejected.error().find("members: at least one member must have rampPermille 1000"), std::string::npos)
      << rejected.error();
}

}  // namespace
}  // namespace ringlb::ring
