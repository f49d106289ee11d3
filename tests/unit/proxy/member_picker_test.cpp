#include "member_picker.h"

#include <gtest/gtest.h>

#include <map>

#include "health_registry.h"
#include "ringlb/ring/hash.h"

namespace ringlb::proxy {
namespace {

ring::RingSpec spec(std::size_t members, double loadFactor = 0, ring::Algorithm algorithm = ring::Algorithm::Ring) {
  ring::RingSpec s;
  s.name = "t";
  s.version = 1;
  s.algorithm = algorithm;
  s.loadFactor = loadFactor;
  for (std::size_t i = 0; i < members; ++i) {
    s.members.push_back({"m-" + std::to_string(i), "127.0.0.1:" + std::to_string(1000 + i), 1, ring::MemberState::Ready});
  }
  return s;
}

class FixedLoad final : public ring::LoadView {
 public:
  std::map<std::uint32_t, std::uint64_t> load;
  std::uint64_t inFlight(std::uint32_t i) const noexcept override {
    auto it = load.find(i);
    return it == load.end() ? 0 : it->second;
  }
  std::uint64_t totalInFlight() const noexcept override {
    std::uint64_t t = 0;
    for (auto& [i, n] : load) t += n;
    return t;
  }
};

TEST(MemberPicker, PicksTheOwnerWhenItIsEligible) {
  HealthRegistry health;
  auto table = buildRoutingTable(spec(5), std::nullopt, health, "test").value();
  for (int k = 0; k < 200; ++k) {
    const auto hash = ring::hashKey("/key/" + std::to_string(k));
    const auto pick = pickMember(*table, hash, {}, nullptr, 0);
    ASSERT_TRUE(pick);
    EXPECT_EQ(pick->index, *table->ring->owner(hash));
    const auto explanation = explainPick(*table, hash, nullptr, 0);
    EXPECT_EQ(explanation.owner, table->ring->members()[pick->index].id);
    EXPECT_EQ(explanation.chosen, explanation.owner);
  }
}

class MemberPickerWalk : public ::testing::TestWithParam<ring::Algorithm> {};

TEST_P(MemberPickerWalk, WalksPastNotReadyEjectedAndTriedMembers) {
  HealthRegistry health;
  auto s = spec(4, 0, GetParam());
  const auto hash = ring::hashKey("/walk");
  auto probe = buildRoutingTable(s, std::nullopt, health, "t").value();
  std::vector<std::uint32_t> order;
  auto walk = probe->ring->walk(hash);
  while (auto i = walk.next()) order.push_back(*i);
  ASSERT_EQ(order.size(), 4u);

  // Owner NotReady: the next successor.
  s.members[order[0]].state = ring::MemberState::NotReady;
  auto table = buildRoutingTable(s, std::nullopt, health, "t").value();
  EXPECT_EQ(pickMember(*table, hash, {}, nullptr, 0)->index, order[1]);

  // Successor ejected: the one after it.
  EjectionPolicy policy{1, 1'000'000'000, 1'000'000'000};
  ASSERT_TRUE(table->routes[order[1]].health->recordFailure(100, policy));
  EXPECT_EQ(pickMember(*table, hash, {}, nullptr, 200)->index, order[2]);
  const auto explanation = explainPick(*table, hash, nullptr, 200);
  ASSERT_EQ(explanation.chain.size(), 3u);
  EXPECT_NE(explanation.chain[0].reason.find("not Ready"), std::string::npos);
  EXPECT_NE(explanation.chain[1].reason.find("ejected"), std::string::npos);
  EXPECT_TRUE(explanation.chain[2].chosen);

  // Tried: the next distinct one.
  TriedSet tried;
  tried.add(order[2]);
  EXPECT_EQ(pickMember(*table, hash, tried, nullptr, 200)->index, order[3]);

  // Ejection expires.
  EXPECT_EQ(pickMember(*table, hash, {}, nullptr, 2'000'000'000)->index, order[1]);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, MemberPickerWalk,
                         ::testing::Values(ring::Algorithm::Ring, ring::Algorithm::Maglev, ring::Algorithm::Anchor),
                         [](const auto& p) { return std::string(ring::toString(p.param)); });

TEST(MemberPicker, IgnoresEjectionWhenEveryReadyMemberIsEjected) {
  HealthRegistry health;
  auto table = buildRoutingTable(spec(2), std::nullopt, health, "t").value();
  EjectionPolicy policy{1, 1'000'000'000, 1'000'000'000};
  for (auto& route : table->routes) ASSERT_TRUE(route.health->recordFailure(0, policy));
  const auto hash = ring::hashKey("/panic");
  const auto pick = pickMember(*table, hash, {}, nullptr, 10);
  ASSERT_TRUE(pick);
  EXPECT_TRUE(pick->panic);
  EXPECT_EQ(pick->index, *table->ring->owner(hash));
}

TEST(MemberPicker, NoReadyMemberMeansNoPick) {
  HealthRegistry health;
  auto s = spec(2);
  for (auto& m : s.members) m.state = ring::MemberState::Draining;
  auto table = buildRoutingTable(s, std::nullopt, health, "t").value();
  EXPECT_FALSE(pickMember(*table, 42, {}, nullptr, 0));
}

TEST(MemberPicker, BoundedLoadsSpillPastAFullOwner) {
  HealthRegistry health;
  auto table = buildRoutingTable(spec(4, 1.25), std::nullopt, health, "t").value();
  ASSERT_TRUE(table->bounded);
  const auto hash = ring::hashKey("/hot");
  const auto owner = *table->ring->owner(hash);
  FixedLoad load;
  load.load[owner] = 10;  // capacity is ceil(1.25 * 11 / 4) = 4
  const auto pick = pickMember(*table, hash, {}, &load, 0);
  ASSERT_TRUE(pick);
  EXPECT_NE(pick->index, owner);
  EXPECT_TRUE(pick->spilled);
  EXPECT_EQ(pick->spilledFrom, owner);
  const auto explanation = explainPick(*table, hash, &load, 0);
  EXPECT_NE(explanation.chain[0].reason.find("bounded-load"), std::string::npos) << explanation.chain[0].reason;
}

TEST(MemberHealth, EjectsAfterConsecutiveFailuresWithGrowingBackoff) {
  MemberHealth health("m");
  EjectionPolicy policy{3, 1000, 8000};
  EXPECT_FALSE(health.recordFailure(0, policy));
  EXPECT_FALSE(health.recordFailure(0, policy));
  health.recordSuccess(0, policy);  // the streak restarts
  EXPECT_FALSE(health.recordFailure(0, policy));
  EXPECT_FALSE(health.recordFailure(0, policy));
  EXPECT_TRUE(health.recordFailure(10, policy));
  EXPECT_TRUE(health.ejected(500));
  EXPECT_FALSE(health.ejected(1010));
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(health.recordFailure(2000, policy));
  EXPECT_TRUE(health.recordFailure(2000, policy));
  EXPECT_TRUE(health.ejected(3999));  // doubled: 2000 ns
  EXPECT_FALSE(health.ejected(4000));
  EXPECT_EQ(health.ejectionsTotal(), 2u);
  health.clearEjection();
  EXPECT_FALSE(health.ejected(2500));
  EjectionPolicy off{0, 1000, 1000};
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(health.recordFailure(0, off));
}

}  // namespace
}  // namespace ringlb::proxy
