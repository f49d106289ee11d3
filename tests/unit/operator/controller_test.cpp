#include "ringlb/operator/controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <algorithm>
#include <functional>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "fake_operator_metrics.h"
#include "fake_runtime.h"
#include "ringlb/operator/reconcile_plan.h"

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;

class FakeSource final : public ResourceSource {
 public:
  void start(EventHandler handler) override {
    handler_ = std::move(handler);
    for (const auto& event : initial) handler_(event);
  }
  void stop() override {}
  Status writeStatus(const HashRing&, const HashRingStatus& status) override {
    std::unique_lock lock(mutex_);
    if (holding_) {
      // A slow API server: the write hangs until released, at most 5 s.
      ++blocked_;
      blockedGenerations_.push_back(status.observedGeneration);
      released_.wait_for(lock, 5s, [this] { return !holding_; });
      --blocked_;
    }
    statuses_.push_back(status);
    return ok();
  }
  void emit(const ResourceEvent& event) { handler_(event); }

  /// From now on every status write blocks until releaseWrites() (or 5 s).
  void holdWrites() {
    std::lock_guard lock(mutex_);
    holding_ = true;
  }
  void releaseWrites() {
    {
      std::lock_guard lock(mutex_);
      holding_ = false;
    }
    released_.notify_all();
  }
  /// The status written last, if any.
  std::optional<HashRingStatus> lastWritten() {
    std::lock_guard lock(mutex_);
    if (statuses_.empty()) return std::nullopt;
    return statuses_.back();
  }
  /// Every status written so far (a copy: the controller's status thread keeps writing).
  std::vector<HashRingStatus> written() {
    std::lock_guard lock(mutex_);
    return statuses_;
  }
  /// Writes hanging right now.
  int blockedWrites() {
    std::lock_guard lock(mutex_);
    return blocked_;
  }
  /// Whether a write of a status observing `generation` has started hanging.
  bool blockedOnGeneration(std::int64_t generation) {
    std::lock_guard lock(mutex_);
    return std::find(blockedGenerations_.begin(), blockedGenerations_.end(), generation) != blockedGenerations_.end();
  }

  std::vector<ResourceEvent> initial;

 private:
  std::vector<HashRingStatus> statuses_;
  std::mutex mutex_;
  std::condition_variable released_;
  bool holding_ = false;
  int blocked_ = 0;
  std::vector<std::int64_t> blockedGenerations_;
  EventHandler handler_;
};

HashRing ring(int replicas) {
  HashRing r;
  r.metadata.name = "apod";
  r.spec.replicas = replicas;
  r.spec.templ.command = {"ringlb-apod"};
  r.spec.drainSeconds = 0;
  return r;
}

ResourceEvent upsert(int replicas, std::int64_t generation = 1) {
  HashRing resource = ring(replicas);
  resource.metadata.generation = generation;
  return {ResourceEvent::Kind::Upserted, "default/apod", resource, {}};
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// The controller wired to fakes. Heartbeats are injected with probe(); the
// prober's io_context never runs, so no socket is opened.
class ControllerTest : public ::testing::Test {
 protected:
  void start() {
    ControllerOptions options;
    options.resync = 60s;
    controller = std::make_unique<Controller>(source, runtime, registry, prober, metrics, clock, options);
    ASSERT_TRUE(controller->start().ok());
  }
  void TearDown() override {
    if (controller) controller->shutdown(false);
  }

  std::vector<std::pair<std::string, ring::MemberState>> members() {
    std::vector<std::pair<std::string, ring::MemberState>> out;
    if (const auto published = registry.get("default/apod")) {
      for (const auto& member : published->members()) out.emplace_back(member.id, member.state);
    }
    return out;
  }
  bool allReady(std::size_t count) {
    const auto current = members();
    return current.size() == count &&
           std::all_of(current.begin(), current.end(), [](const auto& m) { return m.second == ring::MemberState::Ready; });
  }
  void probeAll(bool success) {
    for (const auto& [slot, info] : runtime.replicas()) {
      if (info.running) controller->onProbeResult({"default/apod", "apod", slot, info.runtimeId, success, "HTTP 200"});
    }
  }

  FakeSource source;
  testing::FakeRuntime runtime;
  RingRegistry registry{""};
  boost::asio::io_context io;
  HeartbeatProber prober{io, [](const ProbeResult&) {}};
  testing::FakeOperatorMetrics metrics;
  SteadyClock clock;
  std::unique_ptr<Controller> controller;
};

TEST_F(ControllerTest, StartsReplicasPublishesThemNotReadyAndReadyAfterHeartbeats) {
  source.initial = {upsert(3)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  for (const auto& [id, state] : members()) EXPECT_EQ(state, ring::MemberState::NotReady) << id;
  probeAll(true);
  EXPECT_TRUE(allReady(3));
  const auto status = controller->status("default/apod");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->readyReplicas, 3);
  EXPECT_EQ(status->conditions.front().type, "Degraded");
  EXPECT_EQ(status->conditions.back().type, "Ready");
  EXPECT_EQ(status->conditions.back().status, "True");
  EXPECT_TRUE(source.lastWritten()) << "status is written to the source";
}

TEST_F(ControllerTest, ExitIsPublishedAtOnceAndTheSlotReplaced) {
  source.initial = {upsert(3)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  probeAll(true);
  const auto version = registry.get("default/apod")->version();
  const auto before = runtime.replicas().at("apod-1").runtimeId;
  runtime.crash("apod-1");
  // Synchronously on the event: NotReady in the very next version.
  const auto after = registry.get("default/apod");
  ASSERT_GT(after->version(), version);
  EXPECT_EQ(after->members()[*after->indexOf("apod-1")].state, ring::MemberState::NotReady);
  ASSERT_TRUE(eventually([&] { return runtime.replicas().at("apod-1").runtimeId != before; }));
  // The runtime knows the replacement a moment before the controller records it, and a probe of an
  // unrecorded replica is dropped; the real prober probes again each interval, so do the same.
  EXPECT_TRUE(eventually([&] {
    probeAll(true);
    return allReady(3);
  }));
  const auto status = controller->status("default/apod");
  EXPECT_EQ(status->members[1].restarts, 1u);
  EXPECT_NE(status->members[1].lastFailure.find("SIGKILL"), std::string::npos);
}

TEST_F(ControllerTest, InvalidResourceKeepsReplicasAndIsReported) {
  source.initial = {upsert(3)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  probeAll(true);
  const auto version = registry.get("default/apod")->version();
  const auto calls = runtime.calls().size();
  source.emit({ResourceEvent::Kind::Invalid, "default/apod", std::nullopt, "apod.yaml: spec.replicas: must be >= 0, got -1"});
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runtime.calls().size(), calls) << "nothing started or stopped";
  EXPECT_EQ(registry.get("default/apod")->version(), version);
  const auto readiness = controller->readiness();
  const bool ready = readiness.ok();
  const std::string text = ready ? readiness.value() : readiness.error();
  EXPECT_FALSE(ready);
  EXPECT_NE(text.find("apod.yaml: spec.replicas: must be >= 0, got -1"), std::string::npos);
  const auto status = controller->status("default/apod");
  EXPECT_EQ(status->conditions.front().type, "Degraded");
  EXPECT_EQ(status->conditions.front().reason, "InvalidSpec");
  source.emit(upsert(3));
  EXPECT_TRUE(controller->readiness().ok());
}

TEST_F(ControllerTest, TheRingPolicyCarriesTheEffectiveBudgetAndARefusalIsDegraded) {
  runtime.failRingPoliciesWith("apply PodDisruptionBudget default/apod: HTTP 403: forbidden");
  HashRing resource = ring(3);
  resource.metadata.uid = "ring-uid";
  source.initial = {{ResourceEvent::Kind::Upserted, "default/apod", resource, {}}};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3 && !runtime.policies().empty(); }));
  const RingPolicy policy = runtime.policies().front();
  EXPECT_EQ(policy.ring, "apod");
  EXPECT_EQ(policy.ringNamespace, "default");
  EXPECT_EQ(policy.ringUid, "ring-uid");
  ASSERT_TRUE(policy.disruptionBudget.has_value());
  EXPECT_EQ(policy.disruptionBudget->maxUnavailable, (IntOrPercent{1, false}));
  probeAll(true);
  ASSERT_TRUE(eventually([&] {
    const auto status = controller->status("default/apod");
    return status && status->conditions.front().reason == "RingPolicyFailed";
  }));
  EXPECT_EQ(controller->status("default/apod")->conditions.front().message,
            "apply PodDisruptionBudget default/apod: HTTP 403: forbidden");
  // Retried with backoff, not in a hot loop: a handful of tries in 300 ms, not thousands.
  std::this_thread::sleep_for(300ms);
  EXPECT_LT(runtime.policies().size(), 20u);
  runtime.failRingPoliciesWith("");
  ASSERT_TRUE(eventually([&] { return controller->status("default/apod")->conditions.front().reason == "AsExpected"; }));
}

TEST_F(ControllerTest, AStatusWriteThatBlocksDelaysNeitherEventIntakeNorHeartbeatProbing) {
  source.initial = {upsert(3)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  probeAll(true);
  ASSERT_TRUE(eventually([&] { return allReady(3); }));
  // The writer is idle: the controller's current status is the one written last.
  ASSERT_TRUE(eventually([&] {
    const auto written = source.lastWritten();
    const auto current = controller->status("default/apod");
    return written && current && written->readyReplicas == 3 && *written == *current;
  }));

  source.holdWrites();
  // A new generation changes the status, so a write starts, and hangs.
  std::thread generation2([&] { source.emit(upsert(3, 2)); });
  // (Generation 2 must be taken in before generation 3 is sent, or it would undo the scale-up.)
  ASSERT_TRUE(eventually([&] { return source.blockedOnGeneration(2); }));

  // Meanwhile a scale-up is taken in and reconciled (apod-3 is published),
  // and apod-3's heartbeat is applied (it turns Ready in the ring).
  std::thread generation3([&] { source.emit(upsert(4, 3)); });
  const bool scaled = eventually([&] { return members().size() == 4; }, 2s);
  bool probed = false;
  if (scaled) {
    std::thread heartbeat([&] { probeAll(true); });
    probed = eventually([&] { return allReady(4); }, 2s);
    const bool stillBlocked = source.blockedWrites() > 0;
    source.releaseWrites();
    heartbeat.join();
    EXPECT_TRUE(stillBlocked) << "the write hung all along";
  }
  source.releaseWrites();
  generation2.join();
  generation3.join();
  EXPECT_TRUE(scaled) << "a resource event was not taken in while a status write hung";
  EXPECT_TRUE(probed) << "a heartbeat result was not applied while a status write hung";
  // Once the API server answers again, the latest status goes out.
  EXPECT_TRUE(eventually([&] {
    const auto written = source.lastWritten();
    return written && written->observedGeneration == 3 && written->readyReplicas == 4;
  }));
}

TEST_F(ControllerTest, AdoptsWhatTheRuntimeRunsWithoutStartingAnything) {
  for (int i = 0; i < 3; ++i) {
    runtime.preload({"apod", slotId("apod", i), "old-" + std::to_string(i), "127.0.0.1:" + std::to_string(31000 + i),
                     templateHash(ring(3).spec.templ), true, ""});
  }
  ring::RingSpec previous;
  previous.name = "apod";
  for (int i = 0; i < 3; ++i) {
    previous.members.push_back({slotId("apod", i), "127.0.0.1:" + std::to_string(31000 + i), 1, ring::MemberState::Ready});
  }
  ASSERT_TRUE(registry.publish("default/apod", previous).ok());
  source.initial = {upsert(3)};
  start();
  ASSERT_TRUE(eventually([&] {
    const auto status = controller->status("default/apod");
    return status && status->members.size() == 3;
  }));
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(runtime.calls().empty()) << "no ensureRunning, no stop";
  EXPECT_EQ(registry.get("default/apod")->version(), 1u) << "same ring: no new version";
  EXPECT_TRUE(allReady(3));
}

TEST_F(ControllerTest, OrphanedReplicasOfAnUnknownRingAreStopped) {
  runtime.preload({"gone", "gone-0", "old-0", "127.0.0.1:31000", "h", true, ""});
  source.initial = {upsert(1)};
  start();
  EXPECT_TRUE(eventually([&] { return runtime.replicas().count("gone-0") == 0; }));
}

TEST_F(ControllerTest, DeletionWithdrawsTheRingAndStopsEveryReplica) {
  source.initial = {upsert(2)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 2; }));
  source.emit({ResourceEvent::Kind::Deleted, "default/apod", std::nullopt, {}});
  EXPECT_TRUE(eventually([&] { return runtime.replicas().empty() && registry.get("default/apod") == nullptr; }));
}

TEST_F(ControllerTest, ScaleDownDrainsThenRemoves) {
  source.initial = {upsert(3)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  probeAll(true);
  source.emit(upsert(1));
  EXPECT_TRUE(eventually([&] { return allReady(1) && runtime.replicas().size() == 1; }));
  bool drained = false;
  for (const auto& change : registry.history("default/apod")) drained = drained || change.summary.find("Ready→Draining") != std::string::npos;
  EXPECT_TRUE(drained) << "members were Draining before they left";
}

TEST_F(ControllerTest, AWeightChangeRepublishesTheRingWithoutRestartingAReplica) {
  source.initial = {upsert(3)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  probeAll(true);
  ASSERT_TRUE(allReady(3));
  std::map<std::string, std::string> before;
  for (const auto& [slot, info] : runtime.replicas()) before[slot] = info.runtimeId;
  HashRing weighted = ring(3);
  weighted.spec.weights = {1, 2, 4};
  weighted.spec.hashing.algorithm = ring::Algorithm::Anchor;
  weighted.spec.hashing.capacity = 16;
  source.emit({ResourceEvent::Kind::Upserted, "default/apod", weighted, {}});
  ASSERT_TRUE(eventually([&] {
    const auto published = registry.get("default/apod");
    return published && published->spec().algorithm == ring::Algorithm::Anchor && published->members().size() == 3 &&
           published->members()[2].weight == 4u;
  }));
  const auto published = registry.get("default/apod");
  EXPECT_EQ(published->members()[1].weight, 2u);
  EXPECT_DOUBLE_EQ(published->shares()[2], 4.0 / 7);
  for (const auto& [slot, info] : runtime.replicas()) EXPECT_EQ(info.runtimeId, before[slot]) << slot << " was restarted";
  bool summarized = false;
  for (const auto& change : registry.history("default/apod")) summarized = summarized || change.summary.find("apod-2 weight 4") != std::string::npos;
  EXPECT_TRUE(summarized) << "the ring change names the weight";
}

TEST_F(ControllerTest, TemplateChangeDrainsEachReplicaBeforeReplacingIt) {
  source.initial = {upsert(2)};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 2; }));
  probeAll(true);
  ASSERT_TRUE(allReady(2));
  HashRing changed = ring(2);
  changed.spec.templ.args = {"--verbose"};
  changed.spec.drainSeconds = 1;
  const std::string wanted = templateHash(changed.spec.templ);
  source.emit({ResourceEvent::Kind::Upserted, "default/apod", changed, {}});
  bool sawRollingUpdate = false;
  const bool converged = eventually(
      [&] {
        if (const auto status = controller->status("default/apod")) {
          for (const auto& c : status->conditions) {
            sawRollingUpdate = sawRollingUpdate || (c.type == "Progressing" && c.reason == "RollingUpdate");
          }
        }
        probeAll(true);  // the new replicas' heartbeats
        const auto replicas = runtime.replicas();
        return replicas.size() == 2 &&
               std::all_of(replicas.begin(), replicas.end(), [&](const auto& r) { return r.second.specHash == wanted; }) &&
               allReady(2);
      },
      15s);
  ASSERT_TRUE(converged);
  EXPECT_TRUE(sawRollingUpdate) << "Progressing names the rollout";
  int drains = 0;
  for (const auto& change : registry.history("default/apod")) drains += change.summary.find("Ready→Draining") != std::string::npos;
  EXPECT_EQ(drains, 2) << "each replica left the ring's Ready set before it was replaced";
}

TEST_F(ControllerTest, ShutdownStopsReplicasOnlyWhenAsked) {
  source.initial = {upsert(2)};
  start();
  ASSERT_TRUE(eventually([&] { return runtime.replicas().size() == 2 && members().size() == 2; }));
  probeAll(true);
  ASSERT_TRUE(allReady(2));
  controller->shutdown(true);
  EXPECT_TRUE(runtime.replicas().empty());
  for (const auto& [id, state] : members()) {
    EXPECT_EQ(state, ring::MemberState::NotReady) << id << ": withdrawn before its replica stopped";
  }
}


/// A Runtime with namespaces, as Kubernetes is: each namespace has its own
/// slot "apod-0", at an address of that namespace (127.0.<n>.<ordinal>).
class NamespacedRuntime final : public Runtime {
 public:
  std::string_view name() const noexcept override { return "namespaced"; }
  Result<ReplicaInfo> ensureRunning(const ReplicaSpec& spec) override {
    std::lock_guard lock(mutex_);
    const std::string key = spec.ringNamespace + "/" + spec.slot;
    auto it = replicas_.find(key);
    if (it != replicas_.end() && it->second.specHash == spec.specHash) return it->second;
    ReplicaInfo info{spec.ring, spec.slot, "uid-" + key, addressOf(spec.ringNamespace, spec.ordinal), spec.specHash,
                     true, "", spec.ringNamespace};
    replicas_[key] = info;
    return info;
  }
  Status stop(const std::string& ring, const std::string& slot, std::chrono::seconds) override {
    std::lock_guard lock(mutex_);
    stops_.push_back(ringNamespaceOf(ring) + "/" + slot);
    replicas_.erase(ringNamespaceOf(ring) + "/" + slot);
    return ok();
  }
  Result<std::vector<ReplicaInfo>> list() override {
    std::lock_guard lock(mutex_);
    std::vector<ReplicaInfo> out;
    for (const auto& [key, info] : replicas_) out.push_back(info);
    return out;
  }
  void onEvent(EventHandler) override {}
  static std::string addressOf(const std::string& ns, std::uint32_t ordinal) {
    return "127.0." + std::string(ns == "a" ? "1" : "2") + "." + std::to_string(ordinal) + ":8080";
  }
  std::vector<std::string> stops() {
    std::lock_guard lock(mutex_);
    return stops_;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, ReplicaInfo> replicas_;  // by "namespace/slot"
  std::vector<std::string> stops_;
};

ResourceEvent upsertIn(const std::string& ns, int replicas) {
  HashRing resource = ring(replicas);
  resource.metadata.namespace_ = ns;
  return {ResourceEvent::Kind::Upserted, ns + "/apod", resource, {}};
}

TEST(ControllerNamespaces, SameNamedRingsInTwoNamespacesArePublishedApart) {
  FakeSource source;
  NamespacedRuntime runtime;
  RingRegistry registry{""};
  boost::asio::io_context io;
  HeartbeatProber prober{io, [](const ProbeResult&) {}};
  testing::FakeOperatorMetrics metrics;
  SteadyClock clock;
  source.initial = {upsertIn("a", 2), upsertIn("b", 3)};
  ControllerOptions options;
  options.resync = 60s;
  Controller controller(source, runtime, registry, prober, metrics, clock, options);
  ASSERT_TRUE(controller.start().ok());
  const auto membersOf = [&](const std::string& key) {
    std::vector<std::string> out;
    if (const auto published = registry.get(key)) {
      for (const auto& member : published->members()) out.push_back(member.id + "@" + member.address);
    }
    return out;
  };
  ASSERT_TRUE(eventually([&] { return membersOf("a/apod").size() == 2 && membersOf("b/apod").size() == 3; }));
  EXPECT_EQ(membersOf("a/apod"), (std::vector<std::string>{"apod-0@127.0.1.0:8080", "apod-1@127.0.1.1:8080"}));
  EXPECT_EQ(membersOf("b/apod"), (std::vector<std::string>{"apod-0@127.0.2.0:8080", "apod-1@127.0.2.1:8080",
                                                           "apod-2@127.0.2.2:8080"}));
  // A resync re-lists the runtime: each namespace's replicas stay with their own ring.
  controller.shutdown(false);
  Controller next(source, runtime, registry, prober, metrics, clock, options);
  ASSERT_TRUE(next.start().ok());
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(runtime.stops().empty()) << "nothing of one namespace is mistaken for the other's";
  EXPECT_EQ(next.status("a/apod")->members.size(), 2u);
  EXPECT_EQ(next.status("b/apod")->members.size(), 3u);
  EXPECT_EQ(next.status("b/apod")->members[2].address, "127.0.2.2:8080");

  // Deleting a's ring stops a's replicas only.
  source.emit({ResourceEvent::Kind::Deleted, "a/apod", std::nullopt, {}});
  ASSERT_TRUE(eventually([&] { return registry.get("a/apod") == nullptr; }));
  ASSERT_TRUE(eventually([&] { return runtime.stops().size() == 2; }));
  for (const auto& stopped : runtime.stops()) EXPECT_EQ(stopped.rfind("a/", 0), 0u) << stopped;
  EXPECT_EQ(membersOf("b/apod").size(), 3u);
  next.shutdown(false);
}

TEST_F(ControllerTest, ALeaderStartedFromAStatusAtVersion17NeverPublishesAtOrBelowIt) {
  std::vector<std::uint64_t> published;
  std::mutex publishedMutex;
  registry.onChange([&](const std::string& key) {
    std::lock_guard lock(publishedMutex);
    if (const auto ring = registry.get(key)) published.push_back(ring->version());
  });
  ResourceEvent event = upsert(3);
  event.ring->status.ringVersion = 17;  // what the previous leader published, as every replica sees it
  source.initial = {event};
  start();
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  probeAll(true);
  ASSERT_TRUE(eventually([&] { return allReady(3); }));
  controller->shutdown(false);
  std::lock_guard lock(publishedMutex);
  ASSERT_FALSE(published.empty());
  for (const auto version : published) EXPECT_GT(version, 17u);
  EXPECT_TRUE(std::is_sorted(published.begin(), published.end()));
  for (const auto& status : source.written()) EXPECT_GE(status.ringVersion, 17u) << "status.ringVersion never goes back";
}

TEST_F(ControllerTest, ANeverValidRingIsDegradedOnItsOwnStatusAndTheOthersRunOn) {
  ControllerOptions options;
  options.resync = 60s;
  options.invalidResourceMakesUnready = false;  // as in Kubernetes
  ObjectMeta metadata;
  metadata.namespace_ = "default";
  metadata.name = "broken";
  metadata.generation = 4;
  ResourceEvent invalid{ResourceEvent::Kind::Invalid, "default/broken", std::nullopt,
                        "hashrings/default/broken: spec.hashing.tableSize: must be prime for maglev, got 8", metadata};
  source.initial = {invalid, upsert(3)};
  controller = std::make_unique<Controller>(source, runtime, registry, prober, metrics, clock, options);
  ASSERT_TRUE(controller->start().ok());
  ASSERT_TRUE(eventually([&] { return members().size() == 3; }));
  probeAll(true);
  EXPECT_TRUE(eventually([&] { return allReady(3); })) << "the valid ring publishes";
  const auto readiness = controller->readiness();
  ASSERT_TRUE(readiness.ok()) << readiness.error();
  EXPECT_NE(readiness.value().find("tableSize"), std::string::npos);
  const auto status = controller->status("default/broken");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->conditions.front().type, "Degraded");
  EXPECT_EQ(status->conditions.front().status, "True");
  EXPECT_EQ(status->conditions.front().reason, "InvalidSpec");
  EXPECT_EQ(status->conditions.back().type, "Ready");
  EXPECT_EQ(status->conditions.back().status, "False");
  EXPECT_EQ(registry.get("default/broken"), nullptr);
  controller->shutdown(false);
  const auto statuses = source.written();
  const bool written = std::any_of(statuses.begin(), statuses.end(), [](const HashRingStatus& s) {
    return !s.conditions.empty() && s.conditions.front().reason == "InvalidSpec";
  });
  EXPECT_TRUE(written) << "the invalid ring's status is written";
}

}  // namespace
}  // namespace ringlb::op
