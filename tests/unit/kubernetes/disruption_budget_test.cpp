#include "ringlb/operator/kubernetes_disruption_budget.h"

#include <gtest/gtest.h>

#include "fake_kubernetes_api.h"
#include "ringlb/operator/kubernetes_runtime.h"

namespace ringlb::op {
namespace {

using nlohmann::json;
using testing::FakeKubernetesApi;

RingPolicy policyFor(const DisruptionBudget& written, std::int32_t replicas) {
  RingPolicy policy;
  policy.ring = "apod";
  policy.ringNamespace = "shop";
  policy.ringUid = "ring-uid";
  policy.writtenBudget = written;
  policy.disruptionBudget = effectiveDisruptionBudget(written, replicas);
  return policy;
}

TEST(DisruptionBudgetManifest, DefaultIsMaxUnavailableOneOverTheRingsPods) {
  const auto pdb = buildDisruptionBudget(policyFor({}, 3));
  ASSERT_TRUE(pdb.has_value());
  EXPECT_EQ((*pdb)["apiVersion"], "policy/v1");
  EXPECT_EQ((*pdb)["kind"], "PodDisruptionBudget");
  EXPECT_EQ((*pdb)["metadata"]["name"], "apod");
  EXPECT_EQ((*pdb)["metadata"]["namespace"], "shop");
  EXPECT_EQ((*pdb)["metadata"]["labels"]["app.kubernetes.io/managed-by"], "ringlb-operator");
  EXPECT_EQ((*pdb)["metadata"]["ownerReferences"],
            json::parse(R"([{"apiVersion":"ringlb.dev/v1alpha1","kind":"HashRing","name":"apod","uid":"ring-uid",
                             "controller":true,"blockOwnerDeletion":true}])"));
  EXPECT_EQ((*pdb)["spec"], json::parse(R"({"selector":{"matchLabels":{"ringlb.dev/ring":"apod"}},"maxUnavailable":1})"));
}

TEST(DisruptionBudgetManifest, CountsStayIntegersAndPercentagesStrings) {
  DisruptionBudget written;
  written.maxUnavailable = IntOrPercent{25, true};
  auto pdb = buildDisruptionBudget(policyFor(written, 4));
  ASSERT_TRUE(pdb.has_value());
  EXPECT_EQ((*pdb)["spec"]["maxUnavailable"], "25%");
  EXPECT_FALSE((*pdb)["spec"].contains("minAvailable"));
  written = {};
  written.minAvailable = IntOrPercent{2, false};
  pdb = buildDisruptionBudget(policyFor(written, 4));
  ASSERT_TRUE(pdb.has_value());
  EXPECT_EQ((*pdb)["spec"]["minAvailable"], 2);
  EXPECT_FALSE((*pdb)["spec"].contains("maxUnavailable"));
}

TEST(DisruptionBudgetManifest, DisabledOrASingleReplicaWantsNone) {
  DisruptionBudget off;
  off.enabled = false;
  EXPECT_FALSE(buildDisruptionBudget(policyFor(off, 3)).has_value());
  EXPECT_FALSE(buildDisruptionBudget(policyFor({}, 1)).has_value());
}

TEST(DisruptionBudgetManifest, MatchesIgnoresWhatTheServerAddsButNotAChangedBudget) {
  const json desired = *buildDisruptionBudget(policyFor({}, 3));
  json live = desired;
  live["metadata"]["uid"] = "pdb-uid";
  live["metadata"]["resourceVersion"] = "42";
  live["metadata"]["labels"]["team"] = "web";
  live["status"] = {{"expectedPods", 3}, {"currentHealthy", 3}};
  EXPECT_TRUE(disruptionBudgetMatches(live, desired));
  json changed = live;
  changed["spec"]["maxUnavailable"] = 2;
  EXPECT_FALSE(disruptionBudgetMatches(changed, desired));
  changed = live;
  changed["spec"].erase("maxUnavailable");
  changed["spec"]["minAvailable"] = 1;
  EXPECT_FALSE(disruptionBudgetMatches(changed, desired));
  changed = live;
  changed["spec"]["minAvailable"] = 1;  // both: the other field is ours to clear
  EXPECT_FALSE(disruptionBudgetMatches(changed, desired));
  changed = live;
  changed["metadata"]["ownerReferences"][0]["uid"] = "an-older-ring";
  EXPECT_FALSE(disruptionBudgetMatches(changed, desired));
  EXPECT_FALSE(disruptionBudgetMatches(json(), desired));
}

// A fake server holding at most one PodDisruptionBudget, shop/apod.
struct BudgetHarness {
  FakeKubernetesApi api;
  std::optional<json> stored;
  int writeStatus = 0;  // non-zero: every PATCH and DELETE answers this
  testing::FakeClock clock;
  KubernetesEventRecorder recorder{api, clock, {}};
  KubernetesRuntime runtime{api, KubernetesRuntimeOptions{}, {}, &recorder};
  const std::string path = "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/apod";

  BudgetHarness() {
    api.onRequest = [this](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
      if (call.method == "POST") return ApiResponse{201, "{}", ""};  // Events
      if (call.target.rfind(path, 0) != 0) return ApiResponse{404, R"({"kind":"Status","code":404})", ""};
      if (call.method == "GET") {
        if (!stored) return ApiResponse{404, R"({"kind":"Status","code":404})", ""};
        return ApiResponse{200, stored->dump(), ""};
      }
      if (writeStatus != 0) {
        return ApiResponse{writeStatus, R"({"kind":"Status","message":"poddisruptionbudgets is forbidden"})", ""};
      }
      if (call.method == "PATCH") {
        stored = json::parse(call.body);
        (*stored)["metadata"]["uid"] = "pdb-uid";
        (*stored)["status"] = {{"expectedPods", 0}};
        return ApiResponse{200, stored->dump(), ""};
      }
      if (call.method == "DELETE") {
        if (!stored) return ApiResponse{404, "{}", ""};
        stored.reset();
        return ApiResponse{200, "{}", ""};
      }
      return ApiResponse{405, "{}", ""};
    };
  }

  std::vector<FakeKubernetesApi::Call> writes() {
    std::vector<FakeKubernetesApi::Call> out;
    for (const auto& call : api.calls) {
      if ((call.method == "PATCH" || call.method == "DELETE") && call.target.rfind(path, 0) == 0) out.push_back(call);
    }
    return out;
  }

  std::vector<json> events() {
    recorder.stop();  // posts what is queued
    std::vector<json> out;
    for (const auto& call : api.calls) {
      if (call.method == "POST" && call.target.find("/events") != std::string::npos) out.push_back(json::parse(call.body));
    }
    return out;
  }
};

TEST(KubernetesRuntimeDisruptionBudget, AppliesAMissingBudgetThenWritesNothingWhileItMatches) {
  BudgetHarness h;
  ASSERT_TRUE(h.runtime.applyRingPolicy(policyFor({}, 3)).ok());
  auto writes = h.writes();
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].method, "PATCH");
  EXPECT_EQ(writes[0].target, h.path + "?fieldManager=ringlb-operator&force=true");
  EXPECT_EQ(writes[0].contentType, "application/apply-patch+yaml");
  EXPECT_EQ(json::parse(writes[0].body)["spec"]["maxUnavailable"], 1);
  for (int pass = 0; pass < 3; ++pass) ASSERT_TRUE(h.runtime.applyRingPolicy(policyFor({}, 3)).ok());
  EXPECT_EQ(h.writes().size(), 1u) << "a ring at rest makes no writes";

  DisruptionBudget written;
  written.minAvailable = IntOrPercent{50, true};
  ASSERT_TRUE(h.runtime.applyRingPolicy(policyFor(written, 3)).ok());
  writes = h.writes();
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(h.stored->at("spec"), json::parse(R"({"selector":{"matchLabels":{"ringlb.dev/ring":"apod"}},"minAvailable":"50%"})"));
  const auto events = h.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["reason"], "DisruptionBudgetApplied");
  EXPECT_NE(events[1]["note"].get<std::string>().find("minAvailable \"50%\""), std::string::npos) << events[1]["note"];
}

TEST(KubernetesRuntimeDisruptionBudget, TurningItOffDeletesOnlyTheOperatorsOwn) {
  BudgetHarness h;
  ASSERT_TRUE(h.runtime.applyRingPolicy(policyFor({}, 2)).ok());
  DisruptionBudget off;
  off.enabled = false;
  ASSERT_TRUE(h.runtime.applyRingPolicy(policyFor(off, 2)).ok());
  EXPECT_FALSE(h.stored.has_value());
  ASSERT_TRUE(h.runtime.applyRingPolicy(policyFor(off, 2)).ok());
  EXPECT_EQ(h.writes().size(), 2u) << "nothing left to delete: no DELETE";
  // A budget someone else made under the ring's name is left alone.
  h.stored = json::parse(R"({"metadata":{"name":"apod","labels":{"team":"web"}},"spec":{"maxUnavailable":0}})");
  ASSERT_TRUE(h.runtime.applyRingPolicy(policyFor(off, 2)).ok());
  EXPECT_TRUE(h.stored.has_value());
  EXPECT_EQ(h.writes().size(), 2u);
}

TEST(KubernetesRuntimeDisruptionBudget, ARefusedWriteIsAnErrorAndAWarningEvent) {
  BudgetHarness h;
  h.writeStatus = 403;
  const Status refused = h.runtime.applyRingPolicy(policyFor({}, 3));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.errorKind(), ErrorKind::Unavailable);
  EXPECT_NE(refused.error().find("apply PodDisruptionBudget shop/apod: HTTP 403"), std::string::npos) << refused.error();
  h.writeStatus = 429;
  EXPECT_FALSE(h.runtime.applyRingPolicy(policyFor({}, 3)).ok());
  const auto events = h.events();
  ASSERT_EQ(events.size(), 1u) << "a throttled write is retried quietly";
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_EQ(events[0]["reason"], "DisruptionBudgetFailed");
  EXPECT_EQ(events[0]["regarding"]["kind"], "HashRing");
  EXPECT_EQ(events[0]["regarding"]["name"], "apod");
}

}  // namespace
}  // namespace ringlb::op
