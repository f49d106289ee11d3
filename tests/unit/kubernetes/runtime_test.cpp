#include "ringlb/operator/kubernetes_runtime.h"

#include <gtest/gtest.h>

#include "fake_kubernetes_api.h"
#include "ringlb/operator/rfc3339.h"
#include "ringlb/operator/testing/fake_clock.h"

namespace ringlb::op {
namespace {

using nlohmann::json;
using testing::FakeKubernetesApi;

ReplicaSpec spec(const std::string& slot, const std::string& hash = "h1") {
  ReplicaSpec s;
  s.ring = "apod";
  s.ringNamespace = "default";
  s.slot = slot;
  s.specHash = hash;
  s.templ.image = "ringlb/apod:0.1.0";
  s.templ.port = 8080;
  return s;
}

PodOwner owner() {
  PodOwner o;
  o.name = "apod";
  o.uid = "ring-uid";
  return o;
}

json podFor(const ReplicaSpec& s, const std::string& uid, const std::string& phase, bool ready,
            const std::string& ip = "127.0.0.5") {
  json pod = buildReplicaPod(s, owner());
  pod["metadata"]["uid"] = uid;
  pod["metadata"]["resourceVersion"] = "5";
  pod["status"] = {{"phase", phase},
                   {"podIP", ip},
                   {"conditions", json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})}};
  return pod;
}

struct RuntimeHarness {
  FakeKubernetesApi api;
  std::map<std::string, json> pods;  // "ns/name" as the fake server stores them
  std::map<std::string, json> nodes;  // by name; a GET of another Node is a 404
  int nodeStatus = 200;               // what a GET of a listed Node answers (403: no RBAC)
  std::chrono::system_clock::time_point wallNow = parseRfc3339("2026-12-06T08:00:00Z").value();
  std::unique_ptr<KubernetesRuntime> runtime;
  int conflictsLeft = 0;

  RuntimeHarness() {
    api.onRequest = [this](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
      const std::string nodePrefix = "/api/v1/nodes/";
      if (call.target.rfind(nodePrefix, 0) == 0 && call.method == "GET") {
        const auto it = nodes.find(call.target.substr(nodePrefix.size()));
        if (it == nodes.end()) return ApiResponse{404, R"({"kind":"Status","code":404})", ""};
        if (nodeStatus != 200) return ApiResponse{nodeStatus, R"({"kind":"Status","message":"forbidden"})", ""};
        return ApiResponse{200, it->second.dump(), ""};
      }
      const std::string prefix = "/api/v1/namespaces/default/pods/";
      if (call.target.rfind(prefix, 0) != 0) return ApiResponse{404, "{}", ""};
      std::string name = call.target.substr(prefix.size());
      name = name.substr(0, name.find('?'));
      const std::string key = "default/" + name;
      if (call.method == "GET") {
        if (!pods.contains(key)) return ApiResponse{404, R"({"kind":"Status","code":404})", ""};
        return ApiResponse{200, pods[key].dump(), ""};
      }
      if (call.method == "PATCH") {
        if (conflictsLeft > 0) {
          --conflictsLeft;
          return ApiResponse{409, R"({"kind":"Status","code":409,"message":"conflict"})", ""};
        }
        json pod = json::parse(call.body);
        pod["metadata"]["uid"] = "uid-" + name;
        pod["metadata"]["resourceVersion"] = "10";
        pod["status"] = {{"phase", "Pending"}};
        pods[key] = pod;
        return ApiResponse{201, pod.dump(), ""};
      }
      if (call.method == "DELETE") {
        if (!pods.contains(key)) return ApiResponse{404, "{}", ""};
        pods.erase(key);
        return ApiResponse{200, "{}", ""};
      }
      return ApiResponse{405, "{}", ""};
    };
    KubernetesRuntimeOptions options;
    options.wallClock = [this] { return wallNow; };
    runtime = std::make_unique<KubernetesRuntime>(
        api, options, [](const std::string&, const std::string&) { return owner(); });
  }
};

TEST(KubernetesRuntime, CreatesAMissingPodByServerSideApply) {
  RuntimeHarness h;
  auto info = h.runtime->ensureRunning(spec("apod-0"));
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_EQ(info->slot, "apod-0");
  EXPECT_EQ(info->ring, "apod");
  EXPECT_EQ(info->runtimeId, "uid-apod-0");
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->address, "");  // not Ready yet: nothing to probe or route to
  const auto patches = h.api.callsWith("PATCH");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].target, "/api/v1/namespaces/default/pods/apod-0?fieldManager=ringlb-operator&force=true");
  EXPECT_EQ(patches[0].contentType, "application/apply-patch+yaml");
  const json body = json::parse(patches[0].body);
  EXPECT_EQ(body["metadata"]["ownerReferences"][0]["uid"], "ring-uid");
  EXPECT_EQ(body["metadata"]["labels"]["ringlb.dev/spec-hash"], "h1");
  // A lost node's replica is evicted after 30 s, not the admission default of 300 s.
  ASSERT_EQ(body["spec"]["tolerations"].size(), 2u);
  EXPECT_EQ(body["spec"]["tolerations"][0]["key"], "node.kubernetes.io/unreachable");
  EXPECT_EQ(body["spec"]["tolerations"][0]["tolerationSeconds"], 30);
}

TEST(KubernetesRuntime, OwnerReadFromTheApiCarriesTheGrpcHealthCheckIntoTheReadinessProbe) {
  RuntimeHarness h;
  auto podsOnly = h.api.onRequest;
  h.api.onRequest = [podsOnly](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
    if (call.target == "/apis/ringlb.dev/v1alpha1/namespaces/default/hashrings/apod" && call.method == "GET") {
      return ApiResponse{200, R"({"metadata": {"name": "apod", "uid": "ring-uid"},
                                  "spec": {"protocol": "h2c", "healthCheck": {"path": "/healthz", "periodSeconds": 1,
                                           "grpc": {"service": "ringlb.test.Echo"}}}})",
                         ""};
    }
    return podsOnly(call);
  };
  // No owner from the source's cache: the runtime reads the HashRing itself.
  h.runtime = std::make_unique<KubernetesRuntime>(h.api, KubernetesRuntimeOptions{},
                                                  [](const std::string&, const std::string&) { return std::nullopt; });
  ASSERT_TRUE(h.runtime->ensureRunning(spec("apod-0")).ok());
  const auto patches = h.api.callsWith("PATCH");
  ASSERT_EQ(patches.size(), 1u);
  const json probe = json::parse(patches[0].body)["spec"]["containers"][0]["readinessProbe"];
  EXPECT_EQ(probe["grpc"], json::parse(R"({"port": 8080, "service": "ringlb.test.Echo"})"));
  EXPECT_FALSE(probe.contains("httpGet"));
}

TEST(KubernetesRuntime, AdoptsAMatchingPodWithoutWriting) {
  RuntimeHarness h;
  h.pods["default/apod-1"] = podFor(spec("apod-1"), "u1", "Running", true);
  auto info = h.runtime->ensureRunning(spec("apod-1"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->address, "127.0.0.5:8080");
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->reason, "");
  EXPECT_TRUE(h.api.callsWith("PATCH").empty());
  EXPECT_TRUE(h.api.callsWith("DELETE").empty());
}

TEST(KubernetesRuntime, ReplacesAPodWithAnotherSpecHash) {
  RuntimeHarness h;
  h.pods["default/apod-1"] = podFor(spec("apod-1", "old"), "u1", "Running", true);
  auto info = h.runtime->ensureRunning(spec("apod-1", "new"));
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->running);
  const auto deletes = h.api.callsWith("DELETE");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(json::parse(deletes[0].body)["preconditions"]["uid"], "u1");
  // Once it is gone, the next pass recreates it under the same name.
  info = h.runtime->ensureRunning(spec("apod-1", "new"));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->running);
  EXPECT_EQ(h.pods["default/apod-1"]["metadata"]["name"], "apod-1");
  EXPECT_EQ(h.pods["default/apod-1"]["metadata"]["labels"]["ringlb.dev/spec-hash"], "new");
}

TEST(KubernetesRuntime, FailedPodIsDeletedAndRecreatedUnderTheSameName) {
  RuntimeHarness h;
  h.pods["default/apod-2"] = podFor(spec("apod-2"), "u2", "Failed", false);
  auto info = h.runtime->ensureRunning(spec("apod-2"));
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->running);
  EXPECT_EQ(json::parse(h.api.callsWith("DELETE")[0].body)["gracePeriodSeconds"], 0);
  info = h.runtime->ensureRunning(spec("apod-2"));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->runtimeId, "uid-apod-2");
}

json nodeReady(const std::string& status) {
  return {{"metadata", {{"name", "node-1"}}},
          {"status", {{"conditions", json::array({{{"type", "Ready"}, {"status", status}}})}}}};
}

json terminatingPodOn(const std::string& node, const std::string& deletionTimestamp) {
  json pod = podFor(spec("apod-0"), "u0", "Running", true);
  pod["metadata"]["deletionTimestamp"] = deletionTimestamp;
  pod["spec"]["nodeName"] = node;
  return pod;
}

TEST(KubernetesRuntime, TerminatingPodOnAReadyNodeIsLeftToItsKubelet) {
  RuntimeHarness h;
  h.nodes["node-1"] = nodeReady("True");
  h.pods["default/apod-0"] = terminatingPodOn("node-1", "2026-12-06T07:59:50Z");  // 10 s late: within 15 s
  auto info = h.runtime->ensureRunning(spec("apod-0"));
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->running);
  EXPECT_EQ(info->reason, "terminating");
  EXPECT_TRUE(h.api.callsWith("PATCH").empty());
  EXPECT_TRUE(h.api.callsWith("DELETE").empty());
}

TEST(KubernetesRuntime, PodStuckTerminatingPastTheBoundIsForceDeletedAndItsSlotRecreated) {
  RuntimeHarness h;
  h.nodes["node-1"] = nodeReady("True");
  h.pods["default/apod-0"] = terminatingPodOn("node-1", "2026-12-06T07:59:50Z");
  h.wallNow += std::chrono::seconds(5);  // 15 s past its deletionTimestamp
  auto info = h.runtime->ensureRunning(spec("apod-0"));
  ASSERT_TRUE(info.ok()) << info.error();
  const auto deletes = h.api.callsWith("DELETE");
  ASSERT_EQ(deletes.size(), 1u);
  const json options = json::parse(deletes[0].body);
  EXPECT_EQ(options["gracePeriodSeconds"], 0);
  EXPECT_EQ(options["preconditions"]["uid"], "u0");  // never a newer Pod of the same name
  // Recreated in the same call, under the same name: no restart backoff for a slot already down.
  ASSERT_EQ(h.api.callsWith("PATCH").size(), 1u);
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->runtimeId, "uid-apod-0");
  EXPECT_EQ(h.pods["default/apod-0"]["metadata"]["name"], "apod-0");
}

TEST(KubernetesRuntime, PodOnALostNodeIsForceDeletedAtOnce) {
  RuntimeHarness h;
  h.nodes["node-1"] = nodeReady("Unknown");
  h.pods["default/apod-0"] = terminatingPodOn("node-1", "2026-12-06T08:00:02Z");  // still in its grace period
  auto info = h.runtime->ensureRunning(spec("apod-0"));
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(h.api.callsWith("DELETE").size(), 1u);
  EXPECT_EQ(json::parse(h.api.callsWith("DELETE")[0].body)["gracePeriodSeconds"], 0);
  EXPECT_EQ(info->runtimeId, "uid-apod-0");  // the replacement

  RuntimeHarness gone;  // the Node object itself was deleted
  gone.pods["default/apod-0"] = terminatingPodOn("node-9", "2026-12-06T08:00:02Z");
  ASSERT_TRUE(gone.runtime->ensureRunning(spec("apod-0")).ok());
  EXPECT_EQ(gone.api.callsWith("DELETE").size(), 1u);
}

TEST(KubernetesRuntime, WithoutNodeAccessOnlyTheTimeBoundApplies) {
  RuntimeHarness h;
  h.nodes["node-1"] = nodeReady("Unknown");
  h.nodeStatus = 403;
  h.pods["default/apod-0"] = terminatingPodOn("node-1", "2026-12-06T07:59:50Z");
  ASSERT_TRUE(h.runtime->ensureRunning(spec("apod-0")).ok());
  EXPECT_TRUE(h.api.callsWith("DELETE").empty());
  h.wallNow += std::chrono::seconds(5);
  ASSERT_TRUE(h.runtime->ensureRunning(spec("apod-0")).ok());
  EXPECT_EQ(h.api.callsWith("DELETE").size(), 1u);
}

TEST(KubernetesRuntime, ConflictIsARetryableError) {
  RuntimeHarness h;
  h.conflictsLeft = 1;
  auto info = h.runtime->ensureRunning(spec("apod-0"));
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().find("conflict"), std::string::npos);
  EXPECT_NE(info.error().find("retry"), std::string::npos);
  EXPECT_TRUE(h.runtime->ensureRunning(spec("apod-0")).ok());
}

TEST(KubernetesRuntime, APodTheServerRefusesIsAWarningEventAndThrottlingIsNot) {
  FakeKubernetesApi api;
  int patchStatus = 422;
  api.onRequest = [&](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
    if (call.method == "PATCH") {
      return ApiResponse{patchStatus, R"({"kind":"Status","message":"Pod \"apod-0\" is invalid: spec.affinity: bad"})", ""};
    }
    if (call.method == "POST") return ApiResponse{201, "{}", ""};
    return ApiResponse{404, R"({"kind":"Status","code":404})", ""};
  };
  testing::FakeClock clock;
  KubernetesEventRecorder recorder(api, clock, {});
  const auto owners = [](const std::string&, const std::string&) { return std::optional<PodOwner>(owner()); };
  KubernetesRuntime runtime(api, KubernetesRuntimeOptions{}, owners, &recorder);
  for (const int status : {422, 429, 409}) {
    patchStatus = status;
    EXPECT_FALSE(runtime.ensureRunning(spec("apod-0")).ok()) << status;
  }
  recorder.stop();  // posts what is queued
  std::vector<json> events;
  for (const auto& call : api.calls) {
    if (call.method == "POST" && call.target.find("/events") != std::string::npos) {
      events.push_back(json::parse(call.body));
    }
  }
  ASSERT_EQ(events.size(), 1u) << "the 429 and the 409 are retried quietly";
  EXPECT_EQ(events[0]["reason"], "ReplicaCreateFailed");
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["regarding"]["name"], "apod");
  EXPECT_NE(events[0]["note"].get<std::string>().find("apply Pod default/apod-0: HTTP 422: Pod \"apod-0\" is invalid"),
            std::string::npos)
      << events[0]["note"];
}

TEST(KubernetesRuntime, StopDeletesWithGraceAndToleratesAbsence) {
  RuntimeHarness h;
  h.pods["default/apod-0"] = podFor(spec("apod-0"), "u0", "Running", true);
  ASSERT_TRUE(h.runtime->stop("apod", "apod-0", std::chrono::seconds(7)).ok());
  const auto deletes = h.api.callsWith("DELETE");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(json::parse(deletes[0].body)["gracePeriodSeconds"], 7);
  EXPECT_TRUE(h.runtime->stop("apod", "apod-0", std::chrono::seconds(7)).ok());
}

TEST(KubernetesRuntime, PodWatchReportsLifecycleEvents) {
  RuntimeHarness h;
  const ReplicaSpec s = spec("apod-0");
  h.api.onRequest = [&](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
    if (call.target.rfind("/api/v1/pods?", 0) == 0) {
      json list = {{"metadata", {{"resourceVersion", "1"}}}, {"items", json::array({podFor(s, "u0", "Pending", false)})}};
      EXPECT_NE(call.target.find("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dringlb-operator%2Cringlb.dev%2Fring"),
                std::string::npos);
      return ApiResponse{200, list.dump(), ""};
    }
    return ApiResponse{404, "{}", ""};
  };
  auto line = [](const std::string& type, const json& object) {
    return json{{"type", type}, {"object", object}}.dump() + "\n";
  };
  h.api.streams.push_back({200,
                           {line("MODIFIED", podFor(s, "u0", "Running", true)),
                            line("MODIFIED", podFor(s, "u0", "Failed", false)),
                            line("DELETED", podFor(s, "u0", "Failed", false))},
                           "",
                           ""});
  std::mutex mutex;
  std::vector<RuntimeEvent> events;
  h.runtime->onEvent([&](const RuntimeEvent& event) {
    std::lock_guard lock(mutex);
    events.push_back(event);
  });
  for (int i = 0; i < 300; ++i) {
    {
      std::lock_guard lock(mutex);
      if (events.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(h.runtime->synced());
  auto listed = h.runtime->list();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());  // the deleted Pod left the cache
  h.runtime->shutdown();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, RuntimeEvent::Kind::Started);
  EXPECT_EQ(events[0].address, "127.0.0.5:8080");
  EXPECT_EQ(events[1].kind, RuntimeEvent::Kind::Exited);
  EXPECT_EQ(events[2].kind, RuntimeEvent::Kind::Deleted);
  for (const auto& event : events) {
    EXPECT_EQ(event.ring, "apod");
    EXPECT_EQ(event.slot, "apod-0");
    EXPECT_EQ(event.runtimeId, "u0");
  }
}

TEST(KubernetesRuntimeEvents, TerminatingPodIsReportedAsExitedOnce) {
  RuntimeHarness h;
  const ReplicaSpec s = spec("apod-3");
  json terminating = podFor(s, "u3", "Running", true);
  terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  h.api.onRequest = [&](const FakeKubernetesApi::Call&) -> Result<ApiResponse> {
    json list = {{"metadata", {{"resourceVersion", "1"}}}, {"items", json::array({podFor(s, "u3", "Running", true)})}};
    return ApiResponse{200, list.dump(), ""};
  };
  auto line = [](const std::string& type, const json& object) {
    return json{{"type", type}, {"object", object}}.dump() + "\n";
  };
  h.api.streams.push_back({200, {line("MODIFIED", terminating), line("MODIFIED", terminating)}, "", ""});
  std::mutex mutex;
  std::vector<RuntimeEvent> events;
  h.runtime->onEvent([&](const RuntimeEvent& event) {
    std::lock_guard lock(mutex);
    events.push_back(event);
  });
  for (int i = 0; i < 300; ++i) {
    {
      std::lock_guard lock(mutex);
      if (events.size() >= 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  h.runtime->shutdown();
  ASSERT_EQ(events.size(), 2u);  // Started from the list, one Exited for the deletionTimestamp
  EXPECT_EQ(events[0].kind, RuntimeEvent::Kind::Started);
  EXPECT_EQ(events[1].kind, RuntimeEvent::Kind::Exited);
  EXPECT_EQ(events[1].reason, "pod terminating");
  EXPECT_FALSE(h.runtime->podReady("apod", "apod-3"));
}

}  // namespace
}  // namespace ringlb::op

namespace ringlb::op {
namespace {

TEST(KubernetesRuntime, A409IsRecognisedByItsKind) {
  RuntimeHarness h;
  h.conflictsLeft = 1;
  auto info = h.runtime->ensureRunning(spec("apod-0"));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.errorKind(), ErrorKind::Conflict);
}

TEST(KubernetesApiError, KindFollowsTheHttpStatus) {
  EXPECT_EQ(apiErrorKind(404), ErrorKind::NotFound);
  EXPECT_EQ(apiErrorKind(409), ErrorKind::Conflict);
  EXPECT_EQ(apiErrorKind(422), ErrorKind::Invalid);
  EXPECT_EQ(apiErrorKind(400), ErrorKind::Invalid);
  EXPECT_EQ(apiErrorKind(500), ErrorKind::Unavailable);
  EXPECT_EQ(apiErrorKind(503), ErrorKind::Unavailable);
  EXPECT_EQ(apiErrorKind(429), ErrorKind::Transient);
  EXPECT_EQ(apiErrorKind(403), ErrorKind::Unavailable);
  const Error error = apiError("get Pod default/apod-0", {422, R"({"kind":"Status","message":"spec.x: Invalid"})", ""});
  EXPECT_EQ(error.kind, ErrorKind::Invalid);
  EXPECT_EQ(error.message, "get Pod default/apod-0: HTTP 422: spec.x: Invalid");
}

}  // namespace
}  // namespace ringlb::op
