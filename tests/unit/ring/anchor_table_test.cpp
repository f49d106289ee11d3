#include "ringlb/ring/anchor_table.h"

#include <algorithm>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "ringlb/ring/hash.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::ring {
namespace {

RingSpec anchorSpec(std::uint32_t capacity, const std::vector<std::uint32_t>& slots) {
  RingSpec spec;
  spec.name = "anchor";
  spec.version = 1;
  spec.algorithm = Algorithm::Anchor;
  spec.capacity = capacity;
  for (const auto slot : slots) {
    spec.members.push_back({"m-" + std::to_string(slot), "127.0.0.1:" + std::to_string(9000 + slot), 1, MemberState::Ready});
  }
  return spec;
}

std::vector<std::uint32_t> range(std::uint32_t n) {
  std::vector<std::uint32_t> out(n);
  for (std::uint32_t i = 0; i < n; ++i) out[i] = i;
  return out;
}

const std::string& ownerId(const RingSnapshot& ring, std::uint64_t hash) { return ring.members()[*ring.owner(hash)].id; }

// The exact share of each bucket, by AnchorHash's own rule: a removed bucket's
// mass splits evenly over the A[b] places it hops to, each resolved through the
// replacement chain. Computed from the table's arrays, independently of shares().
std::vector<double> massByBucket(const AnchorTable& table) {
  const std::uint32_t a = table.capacity();
  std::vector<double> mass(a, 1.0 / a);
  std::vector<std::uint32_t> removed;
  for (std::uint32_t b = 0; b < a; ++b) {
    if (table.anchorOf(b) != 0) removed.push_back(b);
  }
  // Earliest removed (largest anchor) first: mass only flows to later ones.
  std::sort(removed.begin(), removed.end(), [&](auto x, auto y) { return table.anchorOf(x) > table.anchorOf(y); });
  for (const auto b : removed) {
    const std::uint32_t size = table.anchorOf(b);
    for (std::uint32_t h = 0; h < size; ++h) {
      std::uint32_t target = h;
      while (table.anchorOf(target) >= size) target = table.replacementOf(target);
      mass[target] += mass[b] / size;
    }
    mass[b] = 0;
  }
  return mass;
}

TEST(AnchorTable, EveryKeyLandsOnAWorkingBucket) {
  const auto owners = AnchorTable::layout({{0, 1}, {3, 1}, {7, 1}, {8, 1}, {20, 1}}, 32);
  const AnchorTable table(owners, 5);
  EXPECT_EQ(table.workingCount(), 5u);
  std::vector<int> perMember(5, 0);
  for (int i = 0; i < 50000; ++i) {
    const auto bucket = table.firstPosition(hashKey("k" + std::to_string(i)));
    ASSERT_EQ(table.anchorOf(bucket), 0u);
    ASSERT_NE(owners[bucket], AnchorTable::kUnused);
    ++perMember[table.memberAt(bucket)];
  }
  for (const int count : perMember) EXPECT_NEAR(count, 10000, 400);  // 4σ of a binomial(50000, 1/5)
}

TEST(AnchorTable, HistoryGivesEveryWorkingBucketAnEqualShare) {
  // Holes below and above, a capacity far above the working count.
  const auto owners = AnchorTable::layout({{1, 1}, {2, 1}, {5, 1}, {6, 1}, {9, 1}, {40, 1}, {41, 1}}, 64);
  const AnchorTable table(owners, 7);
  const auto mass = massByBucket(table);
  for (std::uint32_t b = 0; b < table.capacity(); ++b) {
    EXPECT_NEAR(mass[b], owners[b] == AnchorTable::kUnused ? 0.0 : 1.0 / 7, 1e-12) << "bucket " << b;
  }
  for (const double share : table.shares()) EXPECT_DOUBLE_EQ(share, 1.0 / 7);
}

TEST(AnchorTable, WeightsHoldBucketsFromTheTop) {
  const auto owners = AnchorTable::layout({{0, 1}, {1, 2}, {2, 4}}, 16);
  EXPECT_EQ(owners[0], 0u);
  EXPECT_EQ(owners[1], 1u);
  EXPECT_EQ(owners[2], 2u);
  EXPECT_EQ(owners[15], 1u);
  EXPECT_EQ(owners[14], 2u);
  EXPECT_EQ(owners[13], 2u);
  EXPECT_EQ(owners[12], 2u);
  EXPECT_EQ(std::count(owners.begin(), owners.end(), AnchorTable::kUnused), 16 - 7);
  const AnchorTable table(owners, 3);
  const auto shares = table.shares();
  EXPECT_DOUBLE_EQ(shares[0], 1.0 / 7);
  EXPECT_DOUBLE_EQ(shares[1], 2.0 / 7);
  EXPECT_DOUBLE_EQ(shares[2], 4.0 / 7);
  const auto mass = massByBucket(table);
  double member2 = 0;
  for (std::uint32_t b = 0; b < 16; ++b) member2 += owners[b] == 2u ? mass[b] : 0.0;
  EXPECT_NEAR(member2, 4.0 / 7, 1e-12);
}

TEST(AnchorTable, LayoutRefusesRepeatedSlotsAndOverflow) {
  EXPECT_THROW(AnchorTable::layout({{1, 1}, {1, 1}}, 8), std::invalid_argument);
  EXPECT_THROW(AnchorTable::layout({{8, 1}}, 8), std::invalid_argument);
  EXPECT_THROW(AnchorTable::layout({{0, 4}, {5, 1}}, 8), std::invalid_argument);  // extra units reach slot 5
}

// The derived history is exactly AnchorHash's incremental state for the
// changes the operator makes, so only the changed member's keys move.
TEST(AnchorRing, AddingTheNextSlotMovesKeysOnlyToIt) {
  const RingSnapshot before(anchorSpec(64, range(20)));
  const RingSnapshot after(anchorSpec(64, range(21)));
  int moved = 0;
  for (int i = 0; i < 100000; ++i) {
    const auto hash = hashKey("key-" + std::to_string(i));
    if (ownerId(before, hash) == ownerId(after, hash)) continue;
    ++moved;
    ASSERT_EQ(ownerId(after, hash), "m-20");
  }
  EXPECT_NEAR(moved, 100000 / 21, 300);
}

TEST(AnchorRing, RemovingAnyOneMemberMovesOnlyItsKeysEvenly) {
  const RingSnapshot before(anchorSpec(40, range(16)));
  for (const std::uint32_t gone : {0u, 7u, 15u}) {
    auto slots = range(16);
    std::erase(slots, gone);
    const RingSnapshot after(anchorSpec(40, slots));
    std::map<std::string, int> receivers;
    for (int i = 0; i < 60000; ++i) {
      const auto hash = hashKey("key-" + std::to_string(i));
      const auto& was = ownerId(before, hash);
      const auto& now = ownerId(after, hash);
      if (was == now) continue;
      ASSERT_EQ(was, "m-" + std::to_string(gone)) << "key-" << i << " moved " << was << " → " << now;
      ++receivers[now];
    }
    EXPECT_EQ(receivers.size(), 15u);
  }
}

// A member that is not Ready is walked past exactly as if it had left the ring.
TEST(AnchorRing, WalkSuccessorIsTheOwnerOnceTheOwnerLeaves) {
  const RingSnapshot full(anchorSpec(48, range(20)));
  for (int i = 0; i < 2000; ++i) {  // one rebuild per key: kept short
    const auto hash = hashKey("w-" + std::to_string(i));
    auto walk = full.walk(hash);
    const auto first = walk.next();
    const auto second = walk.next();
    ASSERT_TRUE(first && second);
    ASSERT_EQ(*first, *full.owner(hash));
    auto slots = range(20);
    std::erase(slots, *slotOf(full.members()[*first].id));
    const RingSnapshot without(anchorSpec(48, slots));
    ASSERT_EQ(full.members()[*second].id, ownerId(without, hash)) << "w-" << i;
  }
}

TEST(AnchorRing, WalkPastInlineOverlayYieldsEveryWeightedMemberOnce) {
  RingSpec spec = anchorSpec(256, range(30));
  for (auto& member : spec.members) member.weight = 3;  // 90 buckets: the overlay goes dense
  const RingSnapshot ring(spec);
  for (int i = 0; i < 50; ++i) {
    auto walk = ring.walk(hashKey("d-" + std::to_string(i)));
    std::set<std::uint32_t> seen;
    while (auto index = walk.next()) ASSERT_TRUE(seen.insert(*index).second);
    ASSERT_EQ(seen.size(), 30u);
  }
}

TEST(AnchorRing, SpreadsADownOwnersKeysOverEveryReadyMember) {
  RingSpec spec = anchorSpec(32, range(8));
  spec.members[2].state = MemberState::NotReady;
  const RingSnapshot ring(spec);
  std::map<std::uint32_t, int> picks;
  for (int i = 0; i < 40000; ++i) {
    const auto hash = hashKey("s-" + std::to_string(i));
    if (*ring.owner(hash) != 2u) continue;
    ++picks[*ring.pickReady(hash)];
  }
  EXPECT_EQ(picks.size(), 7u);
  EXPECT_FALSE(picks.contains(2u));
  for (const auto& [index, count] : picks) EXPECT_NEAR(count, 5000 / 7, 150) << index;
}

TEST(AnchorRing, ValidationNamesTheField) {
  RingSpec spec = anchorSpec(4, range(3));
  spec.members.push_back({"cache", "127.0.0.1:1", 1, MemberState::Ready});
  auto built = RingSnapshot::build(spec);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().find("members[3].id"), std::string::npos) << built.error();

  spec = anchorSpec(4, {0, 1, 4});
  built = RingSnapshot::build(spec);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().find("capacity"), std::string::npos) << built.error();

  spec = anchorSpec(8, {0, 1});
  spec.members[1].weight = 8;  // slots 0-1 and 7 more buckets: 9 > 8
  built = RingSnapshot::build(spec);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().find("capacity"), std::string::npos) << built.error();

  spec = anchorSpec(8, {0, 1});
  spec.members[1].id = "x-01";
  EXPECT_FALSE(RingSnapshot::build(spec).ok());
}

TEST(AnchorRing, SlotIsTheNumberAfterTheLastDash) {
  EXPECT_EQ(slotOf("apod-12"), 12u);
  EXPECT_EQ(slotOf("my-ring-0"), 0u);
  EXPECT_FALSE(slotOf("apod").has_value());
  EXPECT_FALSE(slotOf("apod-").has_value());
  EXPECT_FALSE(slotOf("apod-1a").has_value());
  EXPECT_FALSE(slotOf("apod-007").has_value());
  EXPECT_FALSE(slotOf("apod-99999999999").has_value());
}

}  // namespace
}  // namespace ringlb::ring
