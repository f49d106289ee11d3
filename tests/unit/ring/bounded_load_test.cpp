#include "ringlb/ring/bounded_load.h"

#include <gtest/gtest.h>

#include "ringlb/ring/hash.h"

namespace ringlb::ring {
namespace {

class FixedLoad final : public LoadView {
 public:
  explicit FixedLoad(std::vector<std::uint64_t> counts) : counts_(std::move(counts)) {}
  std::uint64_t inFlight(std::uint32_t index) const noexcept override { return counts_[index]; }
  std::uint64_t totalInFlight() const noexcept override {
    std::uint64_t total = 0;
    for (auto c : counts_) total += c;
    return total;
  }

 private:
  std::vector<std::uint64_t> counts_;
};

RingSnapshot threeMembers() {
  RingSpec spec;
  spec.name = "b";
  for (int i = 0; i < 3; ++i) spec.members.push_back({"m-" + std::to_string(i), "127.0.0.1:1", 1, MemberState::Ready});
  return RingSnapshot(spec);
}

TEST(BoundedLoadPolicy, CapacityIsCeilOfFactorTimesTotalPlusOneOverMembers) {
  const BoundedLoadPolicy policy(1.25);
  EXPECT_EQ(policy.capacity(0, 4), 1u);    // ceil(1.25 * 1 / 4)
  EXPECT_EQ(policy.capacity(99, 10), 13u);  // ceil(1.25 * 100 / 10) = 12.5 -> 13
  EXPECT_EQ(policy.capacity(999, 10), 125u);
  EXPECT_EQ(policy.capacity(5, 0), 0u);
}

TEST(BoundedLoadPolicy, OwnerBelowCapacityIsChosen) {
  const auto ring = threeMembers();
  const FixedLoad load({0, 0, 0});
  const auto hash = hashKey("x");
  const auto choice = BoundedLoadPolicy(1.25).pick(ring, hash, load, 3, [](std::uint32_t) { return true; });
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->index, *ring.owner(hash));
  EXPECT_FALSE(choice->spilled);
}

TEST(BoundedLoadPolicy, FullOwnerSpillsToNextSuccessor) {
  const auto ring = threeMembers();
  const auto hash = hashKey("x");
  auto walk = ring.walk(hash);
  const auto owner = *walk.next();
  const auto successor = *walk.next();
  std::vector<std::uint64_t> counts(3, 0);
  counts[owner] = 10;  // capacity is ceil(1.25 * 11 / 3) = 5
  const FixedLoad load(counts);
  const auto choice = BoundedLoadPolicy(1.25).pick(ring, hash, load, 3, [](std::uint32_t) { return true; });
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->index, successor);
  EXPECT_TRUE(choice->spilled);
}

TEST(BoundedLoadPolicy, IneligibleMembersAreSkippedAndNoneMeansNoChoice) {
  const auto ring = threeMembers();
  const FixedLoad load({0, 0, 0});
  const auto hash = hashKey("y");
  const auto owner = *ring.owner(hash);
  const auto choice =
      BoundedLoadPolicy(2.0).pick(ring, hash, load, 2, [owner](std::uint32_t index) { return index != owner; });
  ASSERT_TRUE(choice);
  EXPECT_NE(choice->index, owner);
  EXPECT_FALSE(choice->spilled);
  EXPECT_FALSE(BoundedLoadPolicy(2.0).pick(ring, hash, load, 0, [](std::uint32_t) { return false; }));
}

}  // namespace
}  // namespace ringlb::ring
