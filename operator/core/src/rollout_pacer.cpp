#include "ringlb/operator/rollout_pacer.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::op {

namespace {

struct Ramp {
  std::uint32_t from = 0;
  std::uint32_t goal = 0;
  bool mayRise = true;
};

// Every ramp moved `delta` permille towards its goal (never past it).
ring::RingSpec stepped(const ring::RingSpec& base, const std::vector<Ramp>& ramps, std::uint32_t delta) {
  ring::RingSpec spec = base;
  for (std::size_t i = 0; i < spec.members.size(); ++i) {
    const Ramp& ramp = ramps[i];
    std::uint32_t value = ramp.from;
    if (ramp.goal > ramp.from && ramp.mayRise) value = std::min(ramp.goal, ramp.from + delta);
    if (ramp.goal < ramp.from) value = ramp.from - std::min(ramp.from - ramp.goal, delta);
    spec.members[i].rampPermille = value;
  }
  return spec;
}

// A ring that would route nothing (no member fully in) is not a step to take.
double movedTo(const ring::RingSnapshot* before, const ring::RingSpec& spec) {
  auto built = ring::RingSnapshot::build(spec);
  if (!built) return 1.0;
  if (!before) return built.value()->empty() ? 0.0 : 1.0;
  return ring::movedKeyspace(*before, *built.value());
}

// The largest common step (permille) whose ring moves at most `pace`, or 0. The
// keyspace moved grows with the step, nearly in proportion (ring and anchor move
// only the ramping members' keys), so the bracket [within, beyond] is narrowed by
// interpolation, which needs a few ring builds where bisection needs ten.
std::uint32_t largestStepWithin(const ring::RingSnapshot* before, const ring::RingSpec& desired,
                                const std::vector<Ramp>& ramps, double pace) {
  std::uint32_t within = 0;
  std::uint32_t beyond = ring::kFullRamp;
  double movedWithin = movedTo(before, stepped(desired, ramps, within));
  double movedBeyond = movedTo(before, stepped(desired, ramps, beyond));
  if (movedBeyond <= pace) return beyond;
  if (movedWithin > pace) return 0;
  constexpr int kMaxBuilds = 8;
  for (int build = 0; build < kMaxBuilds && beyond - within > 1; ++build) {
    const double fraction = (pace - movedWithin) / std::max(movedBeyond - movedWithin, 1e-12);
    auto guess = static_cast<std::uint32_t>(within + fraction * (beyond - within));
    // Interpolation alternates with halving, so the bracket shrinks even where interpolation creeps.
    guess = build % 2 == 0 ? std::clamp(guess, within + 1, beyond - 1) : within + (beyond - within) / 2;
    const double moved = movedTo(before, stepped(desired, ramps, guess));
    if (moved <= pace) {
      within = guess;
      movedWithin = moved;
    } else {
      beyond = guess;
      movedBeyond = moved;
    }
  }
  return within;
}

bool atGoal(const ring::RingSpec& spec, const std::vector<Ramp>& ramps) {
  for (std::size_t i = 0; i < spec.members.size(); ++i) {
    if (spec.members[i].rampPermille != ramps[i].goal) return false;
  }
  return true;
}

}  // namespace

RolloutStep nextRolloutStep(const ring::RingSpec* current, ring::RingSpec desired, double pace, bool stepDue) {
  std::map<std::string, std::uint32_t> inForce;
  if (current) {
    for (const auto& member : current->members) inForce[member.id] = member.rampPermille;
  }
  std::vector<Ramp> ramps;
  ramps.reserve(desired.members.size());
  for (const auto& member : desired.members) {
    const auto it = inForce.find(member.id);
    // Nothing in force: there are no keys to move, so every member starts at its goal.
    const std::uint32_t from = !current ? member.rampPermille : it == inForce.end() ? 0 : it->second;
    ramps.push_back({from, member.rampPermille, member.state == ring::MemberState::Ready});
  }

  std::shared_ptr<const ring::RingSnapshot> before;
  if (current) {
    auto built = ring::RingSnapshot::build(*current);
    if (built) before = std::move(built).value();
  }
  RolloutStep step;
  step.spec = stepped(desired, ramps, 0);
  // A ring with no member fully in routes nothing: the members that are closest get there at once.
  if (!ring::validate(step.spec) && !step.spec.members.empty()) {
    step.spec = stepped(desired, ramps, ring::kFullRamp);
    step.movedKeyspace = movedTo(before.get(), step.spec);
    step.settled = atGoal(step.spec, ramps);
    return step;
  }
  if (stepDue && !atGoal(step.spec, ramps)) {
    const std::uint32_t delta = std::max<std::uint32_t>(largestStepWithin(before.get(), desired, ramps, pace), 1);
    ring::RingSpec next = stepped(desired, ramps, delta);
    // Ramps that may not rise (members not Ready) leave nothing to step: keep the ring as it is.
    if (ring::validate(next)) step.spec = std::move(next);
  }
  step.movedKeyspace = movedTo(before.get(), step.spec);
  step.settled = atGoal(step.spec, ramps);
  return step;
}

}  // namespace ringlb::op
