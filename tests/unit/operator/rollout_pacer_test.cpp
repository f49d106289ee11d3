// The pacing of a rollout: each published step moves at most the pace of the
// keyspace (measured with the ring library), and the last one is the ring an
// unpaced rollout would have published.
#include <gtest/gtest.h>

#include "ringlb/operator/rollout_pacer.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::op {
namespace {

ring::RingSpec ringOf(ring::Algorithm algorithm, std::uint32_t members) {
  ring::RingSpec spec;
  spec.name = "apod";
  spec.algorithm = algorithm;
  spec.capacity = 64;
  for (std::uint32_t i = 0; i < members; ++i) {
    spec.members.push_back({"apod-" + std::to_string(i), "127.0.0.1:" + std::to_string(9000 + i), 1,
                            ring::MemberState::Ready});
  }
  return spec;
}

double moved(const ring::RingSpec& before, const ring::RingSpec& after) {
  return ring::movedKeyspace(ring::RingSnapshot(before), ring::RingSnapshot(after));
}

struct Walked {
  std::vector<ring::RingSpec> steps;  // every ring published, the starting ring first
  std::vector<double> moved;          // the pacer's figure per step
};

// Publishes steps until the pacer says the rollout is settled (bounded).
Walked walk(ring::RingSpec start, const ring::RingSpec& desired, double pace) {
  Walked walked;
  walked.steps.push_back(std::move(start));
  for (int i = 0; i < 200; ++i) {
    RolloutStep step = nextRolloutStep(&walked.steps.back(), desired, pace, /*stepDue=*/i > 0);
    walked.moved.push_back(step.movedKeyspace);
    walked.steps.push_back(std::move(step.spec));
    if (step.settled) break;
  }
  return walked;
}

class RolloutPacer : public ::testing::TestWithParam<ring::Algorithm> {
 protected:
  // anchor's moved figure is sampled (2^18 walks per candidate ring, slow in a debug build): 3 → 4 there.
  std::uint32_t grown() const { return GetParam() == ring::Algorithm::Anchor ? 4 : 6; }
};

TEST_P(RolloutPacer, ScalingUpMovesAtMostTenPercentPerStep) {
  const ring::RingSpec three = ringOf(GetParam(), 3);
  const ring::RingSpec target = ringOf(GetParam(), grown());
  const Walked walked = walk(three, target, 0.10);
  // New members enter at ramp 0, which moves nothing.
  for (std::uint32_t i = 3; i < grown(); ++i) EXPECT_EQ(walked.steps[1].members[i].rampPermille, 0u);
  EXPECT_EQ(walked.moved[0], 0.0);
  double total = 0;
  for (std::size_t i = 1; i < walked.steps.size(); ++i) {
    const double measured = moved(walked.steps[i - 1], walked.steps[i]);
    EXPECT_NEAR(measured, walked.moved[i - 1], 1e-9) << "step " << i;
    EXPECT_LE(measured, 0.10) << "step " << i;
    total += measured;
  }
  // Unpaced, 3 → N moves about (N − 3)/N of the keyspace; paced, that takes at least total/10% steps.
  const double unpaced = (grown() - 3.0) / grown();
  EXPECT_GT(total, 0.8 * unpaced);
  EXPECT_GE(walked.steps.size() - 2, static_cast<std::size_t>(total / 0.10));
  EXPECT_EQ(walked.steps.back(), target) << "the last step is the unpaced target";
}

TEST_P(RolloutPacer, ScalingDownRampsTheLeavingMembersToZero) {
  const ring::RingSpec grownRing = ringOf(GetParam(), grown());
  ring::RingSpec leaving = grownRing;
  for (std::uint32_t i = 3; i < grown(); ++i) leaving.members[i].rampPermille = 0;
  const Walked walked = walk(grownRing, leaving, 0.10);
  for (std::size_t i = 1; i < walked.steps.size(); ++i) {
    EXPECT_LE(moved(walked.steps[i - 1], walked.steps[i]), 0.10) << "step " << i;
  }
  EXPECT_GE(walked.steps.size(), 4u) << "several steps";
  EXPECT_EQ(walked.steps.back(), leaving);
  // Once at zero they hold no keys: removing them moves nothing.
  EXPECT_EQ(moved(walked.steps.back(), ringOf(GetParam(), 3)), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RolloutPacer,
                         ::testing::Values(ring::Algorithm::Ring, ring::Algorithm::Maglev, ring::Algorithm::Anchor),
                         [](const auto& p) { return std::string(ring::toString(p.param)); });

TEST(RolloutPacerRules, WithoutAStepDueOnlyMembershipChanges) {
  const ring::RingSpec three = ringOf(ring::Algorithm::Ring, 3);
  const RolloutStep step = nextRolloutStep(&three, ringOf(ring::Algorithm::Ring, 4), 0.10, false);
  EXPECT_EQ(step.spec.members.size(), 4u);
  EXPECT_EQ(step.spec.members[3].rampPermille, 0u);
  EXPECT_EQ(step.movedKeyspace, 0.0);
  EXPECT_FALSE(step.settled);
  // Asked again without a step due, nothing moves on.
  const RolloutStep again = nextRolloutStep(&step.spec, ringOf(ring::Algorithm::Ring, 4), 0.10, false);
  EXPECT_EQ(again.spec, step.spec);
}

TEST(RolloutPacerRules, AMemberThatIsNotReadyDoesNotRampUp) {
  ring::RingSpec current = ringOf(ring::Algorithm::Ring, 4);
  current.members[3].rampPermille = 0;
  ring::RingSpec desired = ringOf(ring::Algorithm::Ring, 4);
  desired.members[3].state = ring::MemberState::NotReady;
  const RolloutStep step = nextRolloutStep(&current, desired, 0.10, true);
  EXPECT_EQ(step.spec.members[3].rampPermille, 0u);
  EXPECT_FALSE(step.settled);
}

TEST(RolloutPacerRules, AFirstRingAndAMemberKeptAtItsRampEnterAsTheyAre) {
  const ring::RingSpec three = ringOf(ring::Algorithm::Anchor, 3);
  const RolloutStep first = nextRolloutStep(nullptr, three, 0.10, true);
  EXPECT_EQ(first.spec, three);
  EXPECT_TRUE(first.settled);
  // A replica replaced in its slot keeps the slot's ramp (full): nothing moves.
  ring::RingSpec replaced = three;
  replaced.members[1].address = "127.0.0.1:9999";
  const RolloutStep kept = nextRolloutStep(&three, replaced, 0.10, true);
  EXPECT_EQ(kept.spec, replaced);
  EXPECT_EQ(kept.movedKeyspace, 0.0);
}

TEST(RolloutPacerRules, ARingOfOnlyNewMembersEntersAtOnce) {
  const ring::RingSpec old = ringOf(ring::Algorithm::Ring, 1);
  ring::RingSpec fresh = ringOf(ring::Algorithm::Ring, 2);
  fresh.members.erase(fresh.members.begin());
  const RolloutStep step = nextRolloutStep(&old, fresh, 0.10, false);
  EXPECT_EQ(step.spec, fresh);
  EXPECT_TRUE(step.settled);
}

}  // namespace
}  // namespace ringlb::op
