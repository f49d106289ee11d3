#include "ringlb/operator/reconcile_plan.h"

#include <functional>

#include <gtest/gtest.h>

#include "ringlb/operator/action_executor.h"
#include "ringlb/operator/desired_state.h"
#include "ringlb/operator/testing/fake_clock.h"

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;
using Kind = Action::Kind;

HashRing makeRing(int replicas, std::uint32_t drainSeconds = 5) {
  HashRing ring;
  ring.metadata.name = "apod";
  ring.spec.replicas = replicas;
  ring.spec.templ.command = {"ringlb-apod"};
  ring.spec.templ.args = {"--port", "$(PORT)"};
  ring.spec.drainSeconds = drainSeconds;
  ring.spec.healthCheck.failureThreshold = 3;
  return ring;
}

// Drives plan() and applies its actions the way the controller does, with a
// scripted runtime, all in simulated time.
class PlanHarness {
 public:
  explicit PlanHarness(HashRing ring) : desired(std::move(ring)) {}

  std::vector<Action> step() {
    PlanInput input;
    input.desired = desired;
    input.teardown = teardown;
    for (const auto& [slot, record] : records) input.replicas.push_back(record);
    input.unclaimed = unclaimed;
    input.lastPublished = lastPublished;
    input.holdingKeys = holdingKeys;
    const Plan result = plan(input, clock.now(), options);
    requeueAt = result.requeueAt;
    for (const auto& action : result.actions) {
      ActionOutcome outcome = std::optional<ReplicaInfo>();
      if (action.kind == Kind::Start || action.kind == Kind::Restart) {
        if (failStarts) {
          outcome = Error::unavailable("cannot run 'ringlb-apod': No such file or directory");
        } else {
          ReplicaInfo info;
          info.ring = "apod";
          info.slot = action.slot;
          info.runtimeId = "pid-" + std::to_string(++spawned);
          info.address = "127.0.0.1:" + std::to_string(20000 + spawned);
          info.specHash = action.spec.specHash;
          info.running = true;
          outcome = std::optional<ReplicaInfo>(info);
        }
      }
      if (action.kind == Kind::Adopt || action.kind == Kind::Stop) {
        std::erase_if(unclaimed, [&](const ReplicaInfo& info) { return info.slot == action.slot; });
      }
      applyOutcome(records, action, outcome, clock.now(), options);
    }
    return result.actions;
  }

  void probe(const std::string& slot, bool success) {
    recordProbe(records.at(slot), desired.spec.healthCheck, success, success ? "HTTP 200" : "HTTP 503", clock.now(),
                options.stableAfter);
  }

  void makeAllReady() {
    for (auto& [slot, record] : records) {
      if (record.running && record.state == ReplicaState::Starting) probe(slot, true);
    }
  }

  void crash(const std::string& slot) { recordExit(records.at(slot), "killed by SIGKILL", clock.now(), options.stableAfter); }

  HashRing desired;
  bool teardown = false;
  bool failStarts = false;
  std::map<std::string, ReplicaRecord> records;
  std::vector<ReplicaInfo> unclaimed;
  std::map<std::string, ring::MemberState> lastPublished;
  std::set<std::string> holdingKeys;
  testing::FakeClock clock;
  ReconcileOptions options;
  std::optional<Clock::TimePoint> requeueAt;
  int spawned = 0;
};

std::vector<std::string> slotsOf(const std::vector<Action>& actions, Kind kind) {
  std::vector<std::string> slots;
  for (const auto& action : actions) {
    if (action.kind == kind) slots.push_back(action.slot);
  }
  return slots;
}

TEST(ReconcilePlan, ScaleUpStartsMissingSlotsAndConverges) {
  PlanHarness harness(makeRing(3));
  auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::Start), (std::vector<std::string>{"apod-0", "apod-1", "apod-2"}));
  for (const auto& action : actions) {
    EXPECT_EQ(action.spec.slot, action.slot);
    EXPECT_EQ(action.spec.specHash, templateHash(harness.desired.spec.templ));
  }
  EXPECT_EQ(harness.records.at("apod-1").state, ReplicaState::Starting);
  harness.makeAllReady();
  EXPECT_TRUE(harness.step().empty()) << "converged: nothing to do";

  harness.desired.spec.replicas = 6;
  actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::Start), (std::vector<std::string>{"apod-3", "apod-4", "apod-5"}));
  EXPECT_EQ(actions.size(), 3u) << "existing slots are left alone";
  harness.makeAllReady();
  EXPECT_TRUE(harness.step().empty());
  EXPECT_EQ(harness.records.size(), 6u);
}

TEST(ReconcilePlan, ScaleDownDrainsHighestSlotsThenStopsAfterDrainPeriod) {
  PlanHarness harness(makeRing(6, /*drainSeconds=*/5));
  harness.step();
  harness.makeAllReady();
  harness.desired.spec.replicas = 2;

  auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::BeginDrain), (std::vector<std::string>{"apod-5", "apod-4", "apod-3", "apod-2"}));
  EXPECT_TRUE(slotsOf(actions, Kind::Stop).empty()) << "nothing stops before its drain period";
  EXPECT_EQ(harness.records.at("apod-5").state, ReplicaState::Draining);
  EXPECT_EQ(harness.records.at("apod-1").state, ReplicaState::Ready);
  ASSERT_TRUE(harness.requeueAt);
  EXPECT_EQ(*harness.requeueAt, harness.clock.now() + 5s);

  harness.clock.advance(4s);
  EXPECT_TRUE(harness.step().empty()) << "still draining";
  harness.clock.advance(1s);
  actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::Stop), (std::vector<std::string>{"apod-5", "apod-4", "apod-3", "apod-2"}));
  for (const auto& action : actions) EXPECT_EQ(action.grace, harness.options.stopGrace);
  EXPECT_EQ(harness.records.size(), 2u);
  EXPECT_TRUE(harness.step().empty());
}

TEST(ReconcilePlan, PacedScaleDownDrainsASlotOnlyOnceItsRampIsDown) {
  HashRing ring = makeRing(4, /*drainSeconds=*/5);
  ring.spec.rollout.keyspacePerStep = 0.10;
  PlanHarness harness(ring);
  harness.step();
  harness.makeAllReady();
  harness.desired.spec.replicas = 2;
  harness.holdingKeys = {"apod-3"};  // apod-3 still ramping down in the published ring, apod-2 at 0
  auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::BeginDrain), std::vector<std::string>{"apod-2"});
  EXPECT_EQ(harness.records.at("apod-3").state, ReplicaState::Ready);
  harness.holdingKeys.clear();
  actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::BeginDrain), std::vector<std::string>{"apod-3"});
  // Unpaced, the published ramps do not hold a drain back.
  HashRing unpaced = makeRing(2, 5);
  PlanHarness plain(unpaced);
  plain.step();
  plain.makeAllReady();
  plain.desired.spec.replicas = 1;
  plain.holdingKeys = {"apod-1"};
  EXPECT_EQ(slotsOf(plain.step(), Kind::BeginDrain), std::vector<std::string>{"apod-1"});
}

TEST(ReconcilePlan, ScaleDownStopsSlotsThatServeNothingAtOnce) {
  PlanHarness harness(makeRing(3));
  harness.step();
  harness.probe("apod-0", true);
  harness.probe("apod-1", true);  // apod-2 still Starting
  harness.desired.spec.replicas = 1;
  const auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::Stop), std::vector<std::string>{"apod-2"});
  EXPECT_EQ(slotsOf(actions, Kind::BeginDrain), std::vector<std::string>{"apod-1"});
}

TEST(ReconcilePlan, ScaleToZeroIsAllowed) {
  PlanHarness harness(makeRing(2, /*drainSeconds=*/0));
  harness.step();
  harness.makeAllReady();
  harness.desired.spec.replicas = 0;
  EXPECT_EQ(slotsOf(harness.step(), Kind::BeginDrain).size(), 2u);
  EXPECT_EQ(slotsOf(harness.step(), Kind::Stop).size(), 2u) << "drainSeconds 0: stopped on the next pass";
  EXPECT_TRUE(harness.records.empty());
  EXPECT_TRUE(harness.step().empty());
}

TEST(ReconcilePlan, ScalingBackUpWhileDrainingCancelsTheDrain) {
  PlanHarness harness(makeRing(3));
  harness.step();
  harness.makeAllReady();
  harness.desired.spec.replicas = 2;
  harness.step();
  ASSERT_EQ(harness.records.at("apod-2").state, ReplicaState::Draining);
  harness.desired.spec.replicas = 3;
  const auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::CancelDrain), std::vector<std::string>{"apod-2"});
  EXPECT_TRUE(slotsOf(actions, Kind::Start).empty()) << "the draining replica serves again, no new one";
  EXPECT_EQ(harness.records.at("apod-2").state, ReplicaState::Ready);
}

TEST(ReconcilePlan, FailedReplicaIsReplacedInItsSlot) {
  PlanHarness harness(makeRing(3));
  harness.step();
  harness.makeAllReady();
  const std::string before = harness.records.at("apod-1").runtimeId;
  for (int i = 0; i < 3; ++i) harness.probe("apod-1", false);
  ASSERT_EQ(harness.records.at("apod-1").state, ReplicaState::NotReady);

  const auto actions = harness.step();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::Restart);
  EXPECT_EQ(actions[0].slot, "apod-1");
  EXPECT_EQ(actions[0].spec.slot, "apod-1") << "the replacement keeps the slot, and so its ring positions";
  EXPECT_TRUE(actions[0].countsAsRestart);
  EXPECT_EQ(actions[0].grace, harness.options.failedStopGrace) << "still running: stopped before it is replaced";
  const ReplicaRecord& record = harness.records.at("apod-1");
  EXPECT_NE(record.runtimeId, before);
  EXPECT_EQ(record.state, ReplicaState::Starting);
  EXPECT_EQ(record.restarts, 1u);
  EXPECT_NE(record.lastFailure.find("heartbeat failed 3 times"), std::string::npos) << record.lastFailure;
  harness.probe("apod-1", true);
  EXPECT_EQ(harness.records.at("apod-1").state, ReplicaState::Ready);
  EXPECT_TRUE(harness.step().empty());
}

TEST(ReconcilePlan, DeadProcessIsReplacedImmediatelyOnFirstCrash) {
  PlanHarness harness(makeRing(3));
  harness.step();
  harness.makeAllReady();
  harness.crash("apod-2");
  EXPECT_EQ(harness.records.at("apod-2").state, ReplicaState::Stopped);
  const auto actions = harness.step();
  ASSERT_EQ(slotsOf(actions, Kind::Restart), std::vector<std::string>{"apod-2"});
  EXPECT_EQ(actions[0].grace, 0s) << "nothing runs there any more";
  EXPECT_EQ(harness.records.at("apod-2").restarts, 1u);
  EXPECT_NE(harness.records.at("apod-2").lastFailure.find("SIGKILL"), std::string::npos);
}

TEST(ReconcilePlan, CrashLoopBacksOffExponentiallyUpToTheCapAndResetsAfterAStableRun) {
  PlanHarness harness(makeRing(1));
  harness.options.restartBackoffBase = 1000ms;
  harness.options.restartBackoffCap = 8000ms;
  harness.options.stableAfter = 60s;
  harness.step();
  harness.makeAllReady();

  // Crash right after every start: restart delays 0, 1, 2, 4, 8, 8 s.
  const std::vector<Clock::Duration> expected = {0s, 1s, 2s, 4s, 8s, 8s};
  for (std::size_t crash = 0; crash < expected.size(); ++crash) {
    harness.crash("apod-0");
    const Clock::TimePoint crashedAt = harness.clock.now();
    if (expected[crash] > 0s) {
      EXPECT_TRUE(harness.step().empty()) << "crash " << crash + 1 << ": still backing off";
      ASSERT_TRUE(harness.requeueAt);
      EXPECT_EQ(*harness.requeueAt - crashedAt, expected[crash]) << "crash " << crash + 1;
      harness.clock.advance(expected[crash] - 1ms);
      EXPECT_TRUE(harness.step().empty());
      harness.clock.advance(1ms);
    }
    EXPECT_EQ(slotsOf(harness.step(), Kind::Restart), std::vector<std::string>{"apod-0"}) << "crash " << crash + 1;
    EXPECT_EQ(harness.records.at("apod-0").crashCount, crash + 1);
  }
  EXPECT_EQ(harness.records.at("apod-0").restarts, expected.size());

  // A run that stays Ready for stableAfter resets the count: the next crash restarts at once.
  harness.probe("apod-0", true);
  harness.clock.advance(61s);
  harness.crash("apod-0");
  EXPECT_EQ(harness.records.at("apod-0").crashCount, 1u);
  EXPECT_EQ(slotsOf(harness.step(), Kind::Restart), std::vector<std::string>{"apod-0"});
}

TEST(ReconcilePlan, StartFailureBacksOffToo) {
  PlanHarness harness(makeRing(1));
  harness.failStarts = true;
  EXPECT_EQ(slotsOf(harness.step(), Kind::Start).size(), 1u);
  const ReplicaRecord& record = harness.records.at("apod-0");
  EXPECT_EQ(record.state, ReplicaState::Stopped);
  EXPECT_NE(record.lastFailure.find("No such file"), std::string::npos);
  EXPECT_EQ(slotsOf(harness.step(), Kind::Restart).size(), 1u) << "first retry is immediate";
  EXPECT_TRUE(harness.step().empty()) << "second failure backs off";
  harness.clock.advance(harness.options.restartBackoffBase);
  harness.failStarts = false;
  EXPECT_EQ(slotsOf(harness.step(), Kind::Restart).size(), 1u);
  EXPECT_TRUE(harness.records.at("apod-0").running);
}

TEST(ReconcilePlan, AdoptsRunningReplicasWithoutRestartingThem) {
  PlanHarness harness(makeRing(3));
  for (int i = 0; i < 3; ++i) {
    ReplicaInfo info;
    info.ring = "apod";
    info.slot = "apod-" + std::to_string(i);
    info.runtimeId = "4242" + std::to_string(i) + ":1234";
    info.address = "127.0.0.1:" + std::to_string(31000 + i);
    info.specHash = templateHash(harness.desired.spec.templ);
    info.running = true;
    harness.unclaimed.push_back(info);
  }
  harness.lastPublished = {{"apod-0", ring::MemberState::Ready},
                           {"apod-1", ring::MemberState::Ready},
                           {"apod-2", ring::MemberState::NotReady}};
  const auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::Adopt), (std::vector<std::string>{"apod-0", "apod-1", "apod-2"}));
  EXPECT_EQ(actions.size(), 3u) << "adoption comes alone";
  ASSERT_TRUE(harness.requeueAt);
  EXPECT_EQ(*harness.requeueAt, harness.clock.now()) << "then plan again at once";
  EXPECT_EQ(harness.records.at("apod-0").state, ReplicaState::Ready) << "what proxies were told is kept";
  EXPECT_EQ(harness.records.at("apod-2").state, ReplicaState::Starting);
  EXPECT_EQ(harness.records.at("apod-1").runtimeId, "42421:1234");
  EXPECT_EQ(harness.records.at("apod-1").restarts, 0u);

  EXPECT_TRUE(harness.step().empty()) << "adopted replicas are not started again";
  EXPECT_EQ(harness.spawned, 0);
}

TEST(ReconcilePlan, AdoptsADeadReplicaAndReplacesIt) {
  PlanHarness harness(makeRing(1));
  ReplicaInfo info;
  info.ring = "apod";
  info.slot = "apod-0";
  info.runtimeId = "777:1";
  info.address = "127.0.0.1:31000";
  info.running = false;
  info.reason = "exited while the operator was not running";
  harness.unclaimed.push_back(info);
  EXPECT_EQ(slotsOf(harness.step(), Kind::Adopt).size(), 1u);
  EXPECT_EQ(harness.records.at("apod-0").state, ReplicaState::Stopped);
  EXPECT_EQ(slotsOf(harness.step(), Kind::Restart).size(), 1u);
}

TEST(ReconcilePlan, ChangedTemplateRollsOutOneSlotAtATimeHighestFirst) {
  PlanHarness harness(makeRing(3, /*drainSeconds=*/0));
  harness.step();
  harness.makeAllReady();
  harness.desired.spec.templ.args.push_back("--verbose");
  auto actions = harness.step();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::Restart) << "drainSeconds 0: replaced at once";
  EXPECT_EQ(actions[0].slot, "apod-2");
  EXPECT_FALSE(actions[0].countsAsRestart) << "a rollout is not a failure";
  EXPECT_TRUE(harness.step().empty()) << "waits until the new replica is Ready";
  harness.makeAllReady();
  EXPECT_EQ(slotsOf(harness.step(), Kind::Restart), std::vector<std::string>{"apod-1"});
  harness.makeAllReady();
  EXPECT_EQ(slotsOf(harness.step(), Kind::Restart), std::vector<std::string>{"apod-0"});
  harness.makeAllReady();
  EXPECT_TRUE(harness.step().empty());
}

TEST(ReconcilePlan, ChangedTemplateReplacesReplicasThatServeNothingAtOnce) {
  // Say a nodeSelector no node matches: the Pods never become Ready, and only a
  // new template can fix that. Waiting for Ready before rolling would wait forever.
  PlanHarness harness(makeRing(3, /*drainSeconds=*/5));
  harness.step();
  harness.probe("apod-0", true);  // Ready; apod-1 and apod-2 stay Starting
  harness.desired.spec.templ.args.push_back("--verbose");
  auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::Restart), (std::vector<std::string>{"apod-1", "apod-2"}));
  EXPECT_TRUE(slotsOf(actions, Kind::BeginDrain).empty()) << "the serving replica waits for the others";
  for (const auto& action : actions) {
    EXPECT_EQ(action.spec.specHash, templateHash(harness.desired.spec.templ));
    EXPECT_FALSE(action.countsAsRestart) << "a rollout is not a failure";
  }
  harness.makeAllReady();
  EXPECT_EQ(slotsOf(harness.step(), Kind::BeginDrain), std::vector<std::string>{"apod-0"});
}

TEST(ReconcilePlan, RolloutDrainsEachReadyReplicaBeforeReplacingIt) {
  PlanHarness harness(makeRing(3, /*drainSeconds=*/5));
  harness.step();
  harness.makeAllReady();
  harness.desired.spec.templ.args.push_back("--verbose");
  auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::BeginDrain), std::vector<std::string>{"apod-2"});
  EXPECT_TRUE(slotsOf(actions, Kind::Restart).empty()) << "nothing stops while it still serves";
  EXPECT_EQ(harness.records.at("apod-2").state, ReplicaState::Draining);
  ASSERT_TRUE(harness.requeueAt);
  EXPECT_EQ(*harness.requeueAt, harness.clock.now() + 5s);

  harness.clock.advance(4s);
  EXPECT_TRUE(harness.step().empty()) << "still draining, and no second slot starts draining";
  harness.clock.advance(1s);
  actions = harness.step();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::Restart);
  EXPECT_EQ(actions[0].slot, "apod-2");
  EXPECT_EQ(actions[0].spec.specHash, templateHash(harness.desired.spec.templ));
  EXPECT_FALSE(actions[0].countsAsRestart);
  EXPECT_EQ(harness.records.at("apod-2").state, ReplicaState::Starting);

  EXPECT_TRUE(harness.step().empty()) << "waits until the new replica is Ready";
  harness.makeAllReady();
  EXPECT_EQ(slotsOf(harness.step(), Kind::BeginDrain), std::vector<std::string>{"apod-1"});
}

TEST(ReconcilePlan, TemplateRevertedDuringTheRolloutDrainCancelsIt) {
  PlanHarness harness(makeRing(3, /*drainSeconds=*/5));
  harness.step();
  harness.makeAllReady();
  const auto original = harness.desired.spec.templ;
  harness.desired.spec.templ.args.push_back("--verbose");
  harness.step();
  ASSERT_EQ(harness.records.at("apod-2").state, ReplicaState::Draining);
  harness.desired.spec.templ = original;
  const auto actions = harness.step();
  EXPECT_EQ(slotsOf(actions, Kind::CancelDrain), std::vector<std::string>{"apod-2"});
  EXPECT_TRUE(slotsOf(actions, Kind::Restart).empty());
  EXPECT_EQ(harness.records.at("apod-2").state, ReplicaState::Ready);
}

TEST(ReconcilePlan, BadResourceKeepsTheLastGoodState) {
  DesiredState desired;
  const HashRing good = makeRing(3);
  ResourceEvent upsert{ResourceEvent::Kind::Upserted, "default/apod", good, {}};
  ASSERT_TRUE(desired.apply(upsert));
  ResourceEvent invalid{ResourceEvent::Kind::Invalid, "default/apod", std::nullopt,
                        "examples/apod.yaml: spec.replicas: must be >= 0, got -1"};
  EXPECT_TRUE(desired.apply(invalid));
  ASSERT_NE(desired.desired("default/apod"), nullptr);
  EXPECT_EQ(desired.desired("default/apod")->spec.replicas, 3) << "the invalid edit is not applied";
  EXPECT_EQ(desired.error("default/apod"), invalid.error);
  EXPECT_FALSE(desired.mayTearDown("default/apod"));

  PlanHarness harness(*desired.desired("default/apod"));
  harness.step();
  harness.makeAllReady();
  EXPECT_TRUE(harness.step().empty()) << "running replicas are untouched while the resource is invalid";
  EXPECT_EQ(harness.records.size(), 3u);

  // A ring that was never valid (the operator restarted onto a broken file):
  // no desired state, and no teardown either.
  PlanInput orphan;
  orphan.teardown = false;
  orphan.replicas.push_back(harness.records.at("apod-0"));
  EXPECT_TRUE(plan(orphan, harness.clock.now()).actions.empty());

  // Fixing the file clears the error.
  EXPECT_TRUE(desired.apply(upsert));
  EXPECT_FALSE(desired.error("default/apod"));
}

TEST(ReconcilePlan, DeletedResourceWithdrawsTheRingAndStopsEveryReplica) {
  PlanHarness harness(makeRing(3));
  harness.step();
  harness.makeAllReady();
  PlanInput input;
  input.teardown = true;
  for (const auto& [slot, record] : harness.records) input.replicas.push_back(record);
  const auto actions = plan(input, harness.clock.now()).actions;
  ASSERT_EQ(actions.size(), 4u);
  EXPECT_EQ(actions[0].kind, Kind::Unpublish) << "proxies stop routing before replicas stop";
  EXPECT_EQ(slotsOf(actions, Kind::Stop), (std::vector<std::string>{"apod-2", "apod-1", "apod-0"}));
}

TEST(ReconcilePlan, RestartDelaySchedule) {
  ReconcileOptions options;
  options.restartBackoffBase = 500ms;
  options.restartBackoffCap = 3s;
  EXPECT_EQ(restartDelay(0, options), 0s);
  EXPECT_EQ(restartDelay(1, options), 0s);
  EXPECT_EQ(restartDelay(2, options), 500ms);
  EXPECT_EQ(restartDelay(3, options), 1s);
  EXPECT_EQ(restartDelay(4, options), 2s);
  EXPECT_EQ(restartDelay(5, options), 3s);
  EXPECT_EQ(restartDelay(500, options), 3s);
}

TEST(ReconcilePlan, OrdinalOfParsesOnlyThisRingsSlots) {
  EXPECT_EQ(ordinalOf("apod", "apod-12"), 12u);
  EXPECT_EQ(ordinalOf("apod", "apod-0"), 0u);
  EXPECT_FALSE(ordinalOf("apod", "apod-"));
  EXPECT_FALSE(ordinalOf("apod", "apod-01"));
  EXPECT_FALSE(ordinalOf("apod", "apodx-1"));
  EXPECT_FALSE(ordinalOf("apod", "other-1"));
  EXPECT_FALSE(ordinalOf("apod", "apod-1-0"));
}

TEST(ReconcilePlan, TemplateHashChangesWithEveryField) {
  ReplicaTemplate base;
  base.command = {"a"};
  const std::string hash = templateHash(base);
  EXPECT_EQ(hash, templateHash(base));
  ReplicaTemplate changed = base;
  changed.env.push_back({"X", "1"});
  EXPECT_NE(templateHash(changed), hash);
  changed = base;
  changed.image = "img";
  EXPECT_NE(templateHash(changed), hash);
  changed = base;
  changed.port = 9;
  EXPECT_NE(templateHash(changed), hash);

  using nlohmann::json;
  const std::vector<std::pair<const char*, std::function<void(ReplicaTemplate&)>>> podFields = {
      {"requests", [](ReplicaTemplate& t) { t.resources.requests["cpu"] = "100m"; }},
      {"other limits", [](ReplicaTemplate& t) { t.resources.limits["ephemeral-storage"] = "1Gi"; }},
      {"memory limit", [](ReplicaTemplate& t) { t.memoryBytes = 1u << 20; }},
      {"runAsUser", [](ReplicaTemplate& t) { t.securityContext.runAsUser = 1000; }},
      {"fsGroup", [](ReplicaTemplate& t) { t.securityContext.fsGroup = 2000; }},
      {"supplementalGroups", [](ReplicaTemplate& t) { t.securityContext.supplementalGroups = {5}; }},
      {"nodeSelector", [](ReplicaTemplate& t) { t.pod.nodeSelector["disk"] = "ssd"; }},
      {"tolerations", [](ReplicaTemplate& t) { t.pod.tolerations.push_back({{"operator", "Exists"}}); }},
      {"affinity", [](ReplicaTemplate& t) { t.pod.affinity["nodeAffinity"] = json::object(); }},
      {"topologySpreadConstraints",
       [](ReplicaTemplate& t) { t.pod.topologySpreadConstraints.push_back({{"maxSkew", 1}}); }},
      {"imagePullSecrets", [](ReplicaTemplate& t) { t.pod.imagePullSecrets.push_back("regcred"); }},
      {"serviceAccountName", [](ReplicaTemplate& t) { t.pod.serviceAccountName = "apod"; }},
      {"volumes", [](ReplicaTemplate& t) { t.pod.volumes.push_back({{"name", "data"}}); }},
      {"volumeMounts", [](ReplicaTemplate& t) { t.pod.volumeMounts.push_back({{"name", "data"}}); }},
  };
  for (const auto& [field, set] : podFields) {
    changed = base;
    set(changed);
    EXPECT_NE(templateHash(changed), hash) << field;
  }
}

TEST(ReconcilePlan, TemplateHashOfATemplateWithoutPodSettingsIsUnchanged) {
  // The hash before resources, securityContext and the Pod settings existed: an
  // operator upgrade must not replace every replica whose template uses none of them.
  ReplicaTemplate base;
  base.command = {"a"};
  EXPECT_EQ(templateHash(base), "8d567e8dc1bb2453");
  // Limits written as resources.limits hash as the parsed limits always did.
  ReplicaTemplate limited = base;
  limited.memoryBytes = 256u << 20;
  const std::string parsedOnly = templateHash(limited);
  limited.resources.limits["memory"] = "256Mi";
  EXPECT_EQ(templateHash(limited), parsedOnly);
}

}  // namespace
}  // namespace ringlb::op
