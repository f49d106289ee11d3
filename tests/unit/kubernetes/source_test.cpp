#include "ringlb/operator/kubernetes_source.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fake_kubernetes_api.h"
#include "ringlb/operator/kubernetes_status.h"

namespace ringlb::op {
namespace {

using nlohmann::json;
using testing::FakeKubernetesApi;

json hashRing(const std::string& rv, std::int64_t generation, int replicas, json status = json::object()) {
  json object = {{"apiVersion", "ringlb.dev/v1alpha1"},
                 {"kind", "HashRing"},
                 {"metadata",
                  {{"name", "apod"}, {"namespace", "default"}, {"uid", "ring-uid"}, {"generation", generation},
                   {"resourceVersion", rv}}},
                 {"spec", {{"replicas", replicas}, {"template", {{"image", "apod:1"}}}}}};
  if (!status.empty()) object["status"] = status;
  return object;
}

// Stands in for the operator's resource parser.
Result<HashRing> parse(const json& object) {
  const int replicas = object["spec"].value("replicas", 1);
  if (replicas < 0) return Error{"hashrings/default/apod: spec.replicas: must be >= 0, got " + std::to_string(replicas)};
  HashRing ring;
  ring.metadata.name = object["metadata"]["name"];
  ring.metadata.namespace_ = object["metadata"]["namespace"];
  ring.metadata.generation = object["metadata"]["generation"];
  ring.metadata.uid = object["metadata"]["uid"];
  ring.spec.replicas = replicas;
  return ring;
}

std::string line(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

struct SourceHarness {
  FakeKubernetesApi api;
  std::mutex mutex;
  std::vector<ResourceEvent> events;
  std::vector<ResourceEvent> observed;
  std::unique_ptr<KubernetesSource> source;
  std::chrono::system_clock::time_point wallNow{std::chrono::seconds(1767323045)};
  json listed = json::array();

  SourceHarness() {
    api.onRequest = [this](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
      if (call.method == "GET") {
        json page = {{"metadata", {{"resourceVersion", "10"}}}, {"items", listed}};
        return ApiResponse{200, page.dump(), ""};
      }
      if (call.method == "PATCH") {
        json object = hashRing("50", 2, 3, json::parse(call.body)["status"]);
        return ApiResponse{200, object.dump(), ""};
      }
      return ApiResponse{404, "{}", ""};
    };
    source = std::make_unique<KubernetesSource>(api, KubernetesSourceOptions{}, parse, [this] { return wallNow; });
    source->onObserved([this](const ResourceEvent& event) {
      std::lock_guard lock(mutex);
      observed.push_back(event);
    });
  }

  void startAndWait(std::size_t observedCount) {
    source->start([this](const ResourceEvent& event) {
      std::lock_guard lock(mutex);
      events.push_back(event);
    });
    for (int i = 0; i < 300; ++i) {
      {
        std::lock_guard lock(mutex);
        if (observed.size() >= observedCount) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    source->stop();
  }
};

TEST(KubernetesSource, StatusOnlyChangesDoNotRequeue) {
  SourceHarness h;
  h.listed = json::array({hashRing("5", 1, 3)});
  h.api.streams.push_back({200,
                           {line("MODIFIED", hashRing("11", 1, 3, {{"readyReplicas", 2}})),
                            line("MODIFIED", hashRing("12", 2, 5, {{"readyReplicas", 2}})),
                            line("MODIFIED", hashRing("13", 2, 5, {{"readyReplicas", 5}}))},
                           "",
                           ""});
  h.startAndWait(4);
  ASSERT_EQ(h.events.size(), 2u);  // the list and the generation bump
  EXPECT_EQ(h.events[0].kind, ResourceEvent::Kind::Upserted);
  EXPECT_EQ(h.events[0].ring->spec.replicas, 3);
  EXPECT_EQ(h.events[1].ring->spec.replicas, 5);
  EXPECT_EQ(h.events[1].ring->metadata.generation, 2);
  ASSERT_EQ(h.observed.size(), 4u);  // followers see every status
  EXPECT_EQ(h.observed[3].ring->status.readyReplicas, 5);
  const auto owner = h.source->owner("default", "apod");
  ASSERT_TRUE(owner.has_value());
  EXPECT_EQ(owner->uid, "ring-uid");
}

TEST(KubernetesSource, InvalidSpecIsReportedOnceAndDeletionIsReported) {
  SourceHarness h;
  h.listed = json::array({hashRing("5", 1, -1)});
  h.api.streams.push_back({200,
                           {line("MODIFIED", hashRing("6", 1, -1, {{"readyReplicas", 1}})),
                            line("MODIFIED", hashRing("7", 2, 2)), line("DELETED", hashRing("8", 2, 2))},
                           "",
                           ""});
  h.startAndWait(2);
  ASSERT_EQ(h.events.size(), 3u);
  EXPECT_EQ(h.events[0].kind, ResourceEvent::Kind::Invalid);
  EXPECT_NE(h.events[0].error.find("spec.replicas"), std::string::npos);
  EXPECT_EQ(h.events[1].kind, ResourceEvent::Kind::Upserted);
  EXPECT_EQ(h.events[2].kind, ResourceEvent::Kind::Deleted);
  EXPECT_EQ(h.events[2].key, "default/apod");
}

TEST(KubernetesSource, WritesStatusByServerSideApplyAndSkipsNoOps) {
  SourceHarness h;
  h.listed = json::array({hashRing("5", 2, 3)});
  h.startAndWait(1);
  const HashRing ring = h.source->find("default/apod").value();

  HashRingStatus status;
  status.observedGeneration = 2;
  status.replicas = 3;
  status.readyReplicas = 1;
  status.ringVersion = 4;
  status.members = {{"apod-1", "127.0.0.2:8080", ReplicaState::Starting, 0, ""},
                    {"apod-0", "127.0.0.1:8080", ReplicaState::Ready, 0, ""}};
  ASSERT_TRUE(h.source->writeStatus(ring, status).ok());
  auto patches = h.api.callsWith("PATCH");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].target,
            "/apis/ringlb.dev/v1alpha1/namespaces/default/hashrings/apod/status?fieldManager=ringlb-operator&force=true");
  EXPECT_EQ(patches[0].contentType, "application/apply-patch+yaml");
  const json body = json::parse(patches[0].body);
  EXPECT_EQ(body["apiVersion"], "ringlb.dev/v1alpha1");
  EXPECT_EQ(body["kind"], "HashRing");
  EXPECT_EQ(body["metadata"]["name"], "apod");
  EXPECT_FALSE(body.contains("spec"));
  const json& written = body["status"];
  EXPECT_EQ(written["selector"], "ringlb.dev/ring=apod");
  EXPECT_EQ(written["observedGeneration"], 2);
  EXPECT_EQ(written["members"][0]["id"], "apod-0");
  ASSERT_EQ(written["conditions"].size(), 3u);
  EXPECT_EQ(written["conditions"][2]["type"], "Ready");
  EXPECT_EQ(written["conditions"][2]["status"], "False");
  EXPECT_EQ(written["conditions"][2]["lastTransitionTime"], "2026-01-02T03:04:05Z");

  // The same status again, later: nothing to write.
  h.wallNow += std::chrono::minutes(5);
  ASSERT_TRUE(h.source->writeStatus(ring, status).ok());
  EXPECT_EQ(h.api.callsWith("PATCH").size(), 1u);

  // Ready flips: its transition time moves, Degraded's does not.
  status.readyReplicas = 3;
  status.members[0].state = ReplicaState::Ready;
  status.members.push_back({"apod-2", "127.0.0.3:8080", ReplicaState::Ready, 0, ""});
  ASSERT_TRUE(h.source->writeStatus(ring, status).ok());
  patches = h.api.callsWith("PATCH");
  ASSERT_EQ(patches.size(), 2u);
  const json second = json::parse(patches[1].body)["status"];
  EXPECT_EQ(second["conditions"][2]["status"], "True");
  EXPECT_EQ(second["conditions"][2]["reason"], "AllReplicasReady");
  EXPECT_EQ(second["conditions"][2]["lastTransitionTime"], "2026-01-02T03:09:05Z");
  EXPECT_EQ(second["conditions"][0]["type"], "Degraded");
  EXPECT_EQ(second["conditions"][0]["lastTransitionTime"], "2026-01-02T03:04:05Z");
}

TEST(KubernetesSource, A409StatusWriteIsAConflictByKind) {
  SourceHarness h;
  h.listed = json::array({hashRing("5", 2, 3)});
  h.startAndWait(1);
  const HashRing ring = h.source->find("default/apod").value();
  h.api.onRequest = [](const FakeKubernetesApi::Call&) -> Result<ApiResponse> {
    return ApiResponse{409, R"({"kind":"Status","code":409,"message":"the object has been modified"})", ""};
  };
  HashRingStatus status;
  status.replicas = 3;
  auto written = h.source->writeStatus(ring, status);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.errorKind(), ErrorKind::Conflict);
  // A transport failure is no conflict.
  h.api.onRequest = [](const FakeKubernetesApi::Call&) -> Result<ApiResponse> {
    return Error::unavailable("connect to https://127.0.0.1:6443: Connection refused");
  };
  written = h.source->writeStatus(ring, status);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.errorKind(), ErrorKind::Unavailable);
}

TEST(KubernetesSource, StatusOfAnUnknownRingIsAnError) {
  SourceHarness h;
  HashRing ring;
  ring.metadata.name = "ghost";
  auto written = h.source->writeStatus(ring, HashRingStatus{});
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.error().find("default/ghost"), std::string::npos);
}

}  // namespace
}  // namespace ringlb::op

namespace ringlb::op {
namespace {

TEST(KubernetesSource, ParsesWithTheOperatorsResourceParser) {
  json object = hashRing("5", 3, 4);
  object["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  object["status"] = {{"readyReplicas", 1}};
  auto ring = KubernetesSource::parseObject(object);
  ASSERT_TRUE(ring.ok()) << ring.error();
  EXPECT_EQ(ring->metadata.name, "apod");
  EXPECT_EQ(ring->metadata.uid, "ring-uid");
  EXPECT_EQ(ring->metadata.generation, 3);
  EXPECT_EQ(ring->spec.replicas, 4);
  EXPECT_EQ(ring->spec.templ.image, "apod:1");

  object["spec"]["replicas"] = -2;
  auto bad = KubernetesSource::parseObject(object);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("hashrings/default/apod"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("spec.replicas"), std::string::npos) << bad.error();
}

TEST(KubernetesSource, StartAfterObservingReplaysKnownRings) {
  SourceHarness h;
  h.listed = json::array({hashRing("5", 1, 3)});
  h.source->startObserving();
  for (int i = 0; i < 300 && !h.source->synced(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(h.source->synced());
  std::vector<ResourceEvent> replayed;
  h.source->start([&](const ResourceEvent& event) { replayed.push_back(event); });
  h.source->stop();
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0].kind, ResourceEvent::Kind::Upserted);
  EXPECT_EQ(replayed[0].ring->spec.replicas, 3);
}

}  // namespace
}  // namespace ringlb::op
