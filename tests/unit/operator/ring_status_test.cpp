#include "ringlb/operator/ring_status.h"
#include "ringlb/operator/replica_timeline.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "ringlb/operator/reconcile_plan.h"
#include "ringlb/operator/ring_spec_mapping.h"
#include "ringlb/operator/status_page_json.h"

namespace ringlb::op {
namespace {

HashRing resource(int replicas, std::int64_t generation = 7) {
  HashRing ring;
  ring.metadata.name = "apod";
  ring.metadata.generation = generation;
  ring.spec.replicas = replicas;
  ring.spec.templ.command = {"ringlb-apod"};
  ring.spec.hashing.algorithm = ring::Algorithm::Maglev;
  ring.spec.hashing.virtualNodes = 40;
  ring.spec.hashing.tableSize = 251;
  ring.spec.hashing.loadFactor = 1.25;
  ring.spec.hashing.key.source = ring::KeySource::Header;
  ring.spec.hashing.key.name = "x-user";
  return ring;
}

ReplicaRecord record(std::uint32_t ordinal, ReplicaState state, const HashRing& desired) {
  ReplicaRecord r;
  r.slot = slotId("apod", ordinal);
  r.ordinal = ordinal;
  r.state = state;
  r.running = state != ReplicaState::Stopped;
  r.address = "127.0.0.1:" + std::to_string(20000 + ordinal);
  r.runtimeId = "pid-" + std::to_string(ordinal);
  r.specHash = templateHash(desired.spec.templ);
  return r;
}

std::map<std::string, ReplicaRecord> records(const HashRing& desired, std::vector<ReplicaState> states) {
  std::map<std::string, ReplicaRecord> out;
  for (std::uint32_t i = 0; i < states.size(); ++i) out[slotId("apod", i)] = record(i, states[i], desired);
  return out;
}

const Condition& conditionOf(const HashRingStatus& status, const std::string& type) {
  for (const auto& condition : status.conditions) {
    if (condition.type == type) return condition;
  }
  throw std::runtime_error("no condition " + type);
}

HashRingStatus statusOf(const HashRing& desired, const std::map<std::string, ReplicaRecord>& byslot,
                        const HashRingStatus& previous = {}, const std::string& now = "T1",
                        std::optional<std::string> specError = std::nullopt) {
  const std::string name = "apod";
  return ringStatusOf({name, &desired, byslot, 12, std::move(specError)}, previous, now);
}

TEST(RingStatus, CountsMembersByOrdinalAndVersion) {
  const HashRing desired = resource(3);
  auto byslot = records(desired, {ReplicaState::Ready, ReplicaState::Starting, ReplicaState::Ready});
  // Slot names sort "apod-10" before "apod-2"; members must not.
  byslot["apod-10"] = record(10, ReplicaState::Draining, desired);
  const HashRingStatus status = statusOf(desired, byslot);
  EXPECT_EQ(status.observedGeneration, 7);
  EXPECT_EQ(status.replicas, 4);
  EXPECT_EQ(status.readyReplicas, 2);
  EXPECT_EQ(status.ringVersion, 12u);
  EXPECT_EQ(status.selector, "ringlb.dev/ring=apod");
  ASSERT_EQ(status.members.size(), 4u);
  EXPECT_EQ(status.members[0].id, "apod-0");
  EXPECT_EQ(status.members[2].id, "apod-2");
  EXPECT_EQ(status.members[3].id, "apod-10");
  EXPECT_EQ(status.members[1].state, ReplicaState::Starting);
  EXPECT_EQ(status.members[0].address, "127.0.0.1:20000");
}

TEST(RingStatus, CarriesEachMembersRampFromTheRingInForce) {
  const HashRing desired = resource(3);
  const auto byslot = records(desired, {ReplicaState::Ready, ReplicaState::Ready, ReplicaState::Starting});
  std::vector<ring::Member> inForce = ringMembersOf(byslot, {});
  inForce[1].rampPermille = 360;  // apod-1 is ramping; apod-2 is not in the ring yet
  inForce.pop_back();
  const std::string name = "apod";
  const HashRingStatus status = ringStatusOf({name, &desired, byslot, 12, std::nullopt, {}, &inForce}, {}, "T1");
  ASSERT_EQ(status.members.size(), 3u);
  EXPECT_EQ(status.members[0].rampPermille, 1000u);
  EXPECT_EQ(status.members[1].rampPermille, 360u);
  EXPECT_EQ(status.members[2].rampPermille, 1000u);
  // Without a ring in force nothing ramps.
  EXPECT_EQ(statusOf(desired, byslot).members[1].rampPermille, 1000u);
}

TEST(RingStatus, ConditionsOfAConvergedRing) {
  const HashRing desired = resource(2);
  const HashRingStatus status = statusOf(desired, records(desired, {ReplicaState::Ready, ReplicaState::Ready}));
  ASSERT_EQ(status.conditions.size(), 3u);
  EXPECT_EQ(status.conditions[0].type, "Degraded");
  EXPECT_EQ(status.conditions[1].type, "Progressing");
  EXPECT_EQ(status.conditions[2].type, "Ready");
  EXPECT_EQ(conditionOf(status, "Ready").status, "True");
  EXPECT_EQ(conditionOf(status, "Ready").reason, "AllReplicasReady");
  EXPECT_EQ(conditionOf(status, "Ready").message, "2/2 replicas ready");
  EXPECT_EQ(conditionOf(status, "Progressing").status, "False");
  EXPECT_EQ(conditionOf(status, "Progressing").reason, "Stable");
  EXPECT_EQ(conditionOf(status, "Degraded").status, "False");
  EXPECT_EQ(conditionOf(status, "Degraded").reason, "AsExpected");
  for (const auto& condition : status.conditions) {
    EXPECT_EQ(condition.observedGeneration, 7) << condition.type;
    EXPECT_EQ(condition.lastTransitionTime, "T1") << condition.type;
    EXPECT_FALSE(condition.reason.empty()) << condition.type;
  }
}

TEST(RingStatus, ReasonsFollowWhatTheRingIsDoing) {
  const HashRing desired = resource(3);
  // Fewer slots than asked for.
  auto progressing = conditionOf(statusOf(desired, records(desired, {ReplicaState::Ready})), "Progressing");
  EXPECT_EQ(progressing.status, "True");
  EXPECT_EQ(progressing.reason, "ScalingUp");
  // More slots than asked for, or one draining.
  auto extra = records(desired, {ReplicaState::Ready, ReplicaState::Ready, ReplicaState::Ready, ReplicaState::Draining});
  EXPECT_EQ(conditionOf(statusOf(desired, extra), "Progressing").reason, "ScalingDown");
  EXPECT_EQ(conditionOf(statusOf(desired, extra), "Ready").status, "False") << "a ring still draining extras is not yet ready";
  // A failed slot being replaced.
  auto failing = records(desired, {ReplicaState::Ready, ReplicaState::Starting, ReplicaState::Ready});
  failing["apod-1"].failed = true;
  failing["apod-1"].lastFailure = "exited: signal 9 (SIGKILL)";
  const HashRingStatus replacing = statusOf(desired, failing);
  EXPECT_EQ(conditionOf(replacing, "Progressing").reason, "Replacing");
  EXPECT_EQ(conditionOf(replacing, "Degraded").status, "True");
  EXPECT_EQ(conditionOf(replacing, "Degraded").reason, "ReplicaFailing");
  EXPECT_EQ(conditionOf(replacing, "Degraded").message, "apod-1: exited: signal 9 (SIGKILL)");
  // A slot in range running an older template.
  auto rolling = records(desired, {ReplicaState::Ready, ReplicaState::Ready, ReplicaState::Ready});
  rolling["apod-2"].specHash = "older";
  EXPECT_EQ(conditionOf(statusOf(desired, rolling), "Progressing").reason, "RollingUpdate");
  // An invalid spec outranks a failing replica.
  const HashRingStatus invalid = statusOf(desired, failing, {}, "T1", "apod.yaml: spec.replicas: must be >= 0");
  EXPECT_EQ(conditionOf(invalid, "Degraded").reason, "InvalidSpec");
  EXPECT_EQ(conditionOf(invalid, "Degraded").message, "apod.yaml: spec.replicas: must be >= 0");
  // Scaled to zero, nothing left.
  const HashRing none = resource(0);
  EXPECT_EQ(conditionOf(statusOf(none, {}), "Ready").status, "True");
  EXPECT_EQ(conditionOf(statusOf(none, {}), "Ready").reason, "ScaledToZero");
}

TEST(RingStatus, ARefusedRingPolicyIsDegradedAndAReplicaFailureStaysFirst) {
  const HashRing desired = resource(2);
  const std::string name = "apod";
  const std::string refused = "apply PodDisruptionBudget default/apod: HTTP 403: forbidden";
  auto byslot = records(desired, {ReplicaState::Ready, ReplicaState::Ready});
  HashRingStatus status = ringStatusOf({name, &desired, byslot, 12, std::nullopt, refused}, {}, "T1");
  EXPECT_EQ(conditionOf(status, "Degraded").status, "True");
  EXPECT_EQ(conditionOf(status, "Degraded").reason, "RingPolicyFailed");
  EXPECT_EQ(conditionOf(status, "Degraded").message, refused);
  EXPECT_EQ(conditionOf(status, "Ready").status, "True") << "the replicas still serve";
  byslot["apod-1"].failed = true;
  byslot["apod-1"].lastFailure = "exit code 1";
  status = ringStatusOf({name, &desired, byslot, 12, std::nullopt, refused}, {}, "T1");
  EXPECT_EQ(conditionOf(status, "Degraded").reason, "ReplicaFailing");
  EXPECT_EQ(conditionOf(status, "Degraded").message, "apod-1: exit code 1; " + refused);
}

TEST(RingStatus, TransitionTimeMovesOnlyWithTheStatus) {
  const HashRing desired = resource(2);
  const HashRingStatus first = statusOf(desired, records(desired, {ReplicaState::Ready, ReplicaState::Starting}), {}, "T1");
  EXPECT_EQ(conditionOf(first, "Ready").status, "False");
  // Same statuses, later: the times stay, so the status compares equal and no write follows.
  const HashRingStatus again =
      statusOf(desired, records(desired, {ReplicaState::Ready, ReplicaState::Starting}), first, "T2");
  EXPECT_EQ(again, first);
  // Ready flips: only its time moves.
  const HashRingStatus ready = statusOf(desired, records(desired, {ReplicaState::Ready, ReplicaState::Ready}), again, "T3");
  EXPECT_EQ(conditionOf(ready, "Ready").lastTransitionTime, "T3");
  EXPECT_EQ(conditionOf(ready, "Degraded").lastTransitionTime, "T1");
  EXPECT_EQ(conditionOf(ready, "Progressing").lastTransitionTime, "T3") << "ScalingUp → Stable flips it to False";
}

TEST(RingStatus, WithoutAResourceNothingIsDesired) {
  const HashRing old = resource(2);
  const auto byslot = records(old, {ReplicaState::Ready});
  const std::string name = "apod";
  const HashRingStatus status = ringStatusOf({name, nullptr, byslot, 0, std::nullopt}, {}, "T1");
  EXPECT_EQ(status.observedGeneration, 0);
  EXPECT_EQ(conditionOf(status, "Progressing").reason, "ScalingDown");
  EXPECT_EQ(conditionOf(status, "Ready").status, "False");
}

TEST(ConditionFacts, FromAStatusAlone) {
  HashRingSpec spec;
  spec.replicas = 2;
  HashRingStatus status;
  status.replicas = 2;
  status.readyReplicas = 1;
  status.members = {{"apod-0", "a:1", ReplicaState::Ready, 0, ""},
                    {"apod-1", "a:2", ReplicaState::Stopped, 1, "exited: code 1"}};
  const ConditionFacts facts = conditionFactsOf(spec, status, 3);
  EXPECT_EQ(facts.generation, 3);
  EXPECT_EQ(facts.desiredReplicas, 2);
  ASSERT_EQ(facts.failures.size(), 1u);
  EXPECT_EQ(facts.failures[0], "apod-1: exited: code 1");
  const auto conditions = deriveConditions(facts);
  EXPECT_EQ(conditions[1].reason, "Replacing");
}

TEST(RingSpecMapping, CopiesTheHashingAndKeepsSlotsWithoutAnAddress) {
  const HashRing desired = resource(3);
  auto byslot = records(desired, {ReplicaState::Ready, ReplicaState::Starting, ReplicaState::Draining});
  byslot["apod-1"].address.clear();  // a replacement not scheduled yet
  byslot["apod-3"] = record(3, ReplicaState::Starting, desired);
  byslot["apod-3"].address.clear();  // new, never published: left out
  const auto members = ringMembersOf(byslot, {{"apod-1", "127.0.0.1:19999"}});
  const ring::RingSpec spec = ringSpecFor(desired, members);
  EXPECT_EQ(spec.name, "apod");
  EXPECT_EQ(spec.version, 0u) << "the registry assigns versions";
  EXPECT_EQ(spec.algorithm, ring::Algorithm::Maglev);
  EXPECT_EQ(spec.virtualNodes, 40u);
  EXPECT_EQ(spec.tableSize, 251u);
  EXPECT_DOUBLE_EQ(spec.loadFactor, 1.25);
  EXPECT_EQ(spec.key, desired.spec.hashing.key);
  ASSERT_EQ(spec.members.size(), 3u);
  EXPECT_EQ(spec.members[0].id, "apod-0");
  EXPECT_EQ(spec.members[0].state, ring::MemberState::Ready);
  EXPECT_EQ(spec.members[1].id, "apod-1");
  EXPECT_EQ(spec.members[1].address, "127.0.0.1:19999");
  EXPECT_EQ(spec.members[1].state, ring::MemberState::NotReady);
  EXPECT_EQ(spec.members[2].state, toMemberState(ReplicaState::Draining));
  for (const auto& member : spec.members) EXPECT_EQ(member.weight, 1u);
}

TEST(RingSpecMapping, WeighsEachSlotByItsOrdinalAndCarriesAnchorCapacity) {
  HashRing desired = resource(4);
  desired.spec.hashing.algorithm = ring::Algorithm::Anchor;
  desired.spec.hashing.capacity = 64;
  desired.spec.weights = {1, 2, 4};  // apod-3 is past the list: weight 1
  const auto byslot = records(desired, {ReplicaState::Ready, ReplicaState::Ready, ReplicaState::Ready, ReplicaState::Ready});
  const ring::RingSpec spec = ringSpecFor(desired, ringMembersOf(byslot, {}));
  EXPECT_EQ(spec.algorithm, ring::Algorithm::Anchor);
  EXPECT_EQ(spec.capacity, 64u);
  ASSERT_EQ(spec.members.size(), 4u);
  EXPECT_EQ(spec.members[0].weight, 1u);
  EXPECT_EQ(spec.members[1].weight, 2u);
  EXPECT_EQ(spec.members[2].weight, 4u);
  EXPECT_EQ(spec.members[3].weight, 1u);
  const auto snapshot = ring::RingSnapshot::build(spec);
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  EXPECT_DOUBLE_EQ(snapshot.value()->shares()[2], 4.0 / 8);
}

TEST(RingSpecMapping, FromAStatusLeavesOutMembersWithoutAnAddress) {
  const std::vector<MemberStatus> status{{"apod-0", "127.0.0.11:8080", ReplicaState::Ready, 0, ""},
                                         {"apod-1", "", ReplicaState::Starting, 0, ""},
                                         {"apod-2", "127.0.0.13:8080", ReplicaState::NotReady, 2, "x"}};
  const auto members = ringMembersOf(status);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].id, "apod-0");
  EXPECT_EQ(members[1].id, "apod-2");
  EXPECT_EQ(members[1].state, ring::MemberState::NotReady);
}

TEST(RingSpecMapping, FromAStatusKeepsTheLeadersRamps) {
  std::vector<MemberStatus> status{{"apod-0", "127.0.0.11:8080", ReplicaState::Ready, 0, ""},
                                   {"apod-1", "127.0.0.12:8080", ReplicaState::Ready, 0, ""}};
  status[1].rampPermille = 180;
  const auto members = ringMembersOf(status);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].rampPermille, 1000u);
  EXPECT_EQ(members[1].rampPermille, 180u);
  // The mirrored ring is the leader's: the ramping member holds 18% of its share.
  HashRing desired = resource(2);
  desired.spec.hashing.algorithm = ring::Algorithm::Ring;
  desired.spec.hashing.virtualNodes = 100;
  const auto snapshot = ring::RingSnapshot::build(ringSpecFor(desired, members));
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  EXPECT_LT(snapshot.value()->shares()[1], 0.3);
}

TEST(StatusPageJson, ShowsMembersByOrdinalWithTheirShare) {
  const HashRing desired = resource(2);
  const auto byslot = records(desired, {ReplicaState::Ready, ReplicaState::Ready});
  const HashRingStatus status = statusOf(desired, byslot);
  auto snapshot = ring::RingSnapshot::build(ringSpecFor(desired, ringMembersOf(byslot, {})));
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  const std::vector<RingChange> history{{1, 1000, 1.0, "created with 2 members"}};
  const std::string key = "default/apod";
  const std::string name = "apod";
  const nlohmann::json ring = ringPageJson({key, name, &desired, byslot, status, snapshot.value().get(), history, std::nullopt});
  EXPECT_EQ(ring["key"], "default/apod");
  EXPECT_EQ(ring["generation"], 7);
  EXPECT_EQ(ring["desiredReplicas"], 2);
  EXPECT_EQ(ring["readyReplicas"], 2);
  EXPECT_EQ(ring["algorithm"], "maglev");
  ASSERT_EQ(ring["members"].size(), 2u);
  EXPECT_EQ(ring["members"][0]["id"], "apod-0");
  EXPECT_EQ(ring["members"][1]["runtimeId"], "pid-1");
  const double shares = ring["members"][0]["share"].get<double>() + ring["members"][1]["share"].get<double>();
  EXPECT_NEAR(shares, 1.0, 1e-9);
  EXPECT_EQ(ring["conditions"].size(), 3u);
  EXPECT_EQ(ring["history"][0]["summary"], "created with 2 members");
  EXPECT_TRUE(ring["error"].is_null());

  const nlohmann::json page = statusPageJson("process", false, 1700000000000, nlohmann::json::array({ring}), {{"file:x.yaml", "bad"}});
  EXPECT_EQ(page["runtime"], "process");
  EXPECT_EQ(page["ready"], false);
  EXPECT_EQ(page["rings"].size(), 1u);
  EXPECT_EQ(page["resourceErrors"]["file:x.yaml"], "bad");
  EXPECT_EQ(page["serverUnixMillis"], 1700000000000);
}

TEST(StatusPageJson, CarriesSettingsUptimeEventsAndTheFlappingMark) {
  const HashRing desired = resource(2);
  auto byslot = records(desired, {ReplicaState::Ready, ReplicaState::Ready});
  const Clock::TimePoint now = Clock::TimePoint{} + std::chrono::hours(100);
  const std::int64_t wallNow = 1'700'000'000'000;
  for (auto& [slot, record] : byslot) {
    record.running = true;
    record.startedAt = now - std::chrono::seconds(90);
  }
  ReplicaTimeline timeline;
  timeline.observe(byslot, now - std::chrono::minutes(5), wallNow - 300'000);
  ReplicaRecord& flappy = byslot.at("apod-1");
  for (int i = 0; i < 2; ++i) {  // two failures, each followed by a replacement Ready 200 ms later
    const auto at = now - std::chrono::minutes(4 - 2 * i);
    flappy.failedAt = at;
    flappy.lastFailure = "exited: killed by signal 9";
    ++flappy.restarts;
    flappy.readySince = at + std::chrono::milliseconds(200);
    timeline.observe(byslot, at + std::chrono::seconds(1), wallNow - std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                          now - at - std::chrono::seconds(1)).count());
  }
  const HashRingStatus status = statusOf(desired, byslot);
  auto snapshot = ring::RingSnapshot::build(ringSpecFor(desired, ringMembersOf(byslot, {})));
  ASSERT_TRUE(snapshot.ok()) << snapshot.error();
  const std::vector<RingChange> history;
  const std::string key = "default/apod";
  const std::string name = "apod";
  const nlohmann::json ring = ringPageJson(
      {key, name, &desired, byslot, status, snapshot.value().get(), history, std::nullopt, &timeline, now, wallNow});
  EXPECT_EQ(ring["settings"]["algorithm"], "maglev");
  EXPECT_EQ(ring["settings"]["virtualNodes"], snapshot.value()->spec().virtualNodes);
  EXPECT_EQ(ring["settings"]["key"]["source"], std::string(ring::toString(snapshot.value()->spec().key.source)));
  EXPECT_EQ(ring["members"][0]["weight"], 1);
  EXPECT_EQ(ring["members"][0]["uptimeMillis"], 90'000);
  EXPECT_EQ(ring["members"][0]["flapping"], false);
  EXPECT_EQ(ring["members"][1]["recentFailures"], 2);
  EXPECT_EQ(ring["members"][1]["flapping"], true);
  const auto& events = ring["events"];
  ASSERT_EQ(events.size(), 6u) << events.dump();  // failed, replaced, recovered, twice
  EXPECT_EQ(events[0]["kind"], "failed");
  EXPECT_EQ(events[0]["member"], "apod-1");
  EXPECT_EQ(events[0]["unixMillis"], wallNow - 240'000);
  EXPECT_EQ(events[0]["outageMillis"], 200);
  EXPECT_EQ(events[2]["kind"], "recovered");
}

}  // namespace
}  // namespace ringlb::op
