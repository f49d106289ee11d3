#include "ringlb/operator/terminating_pod.h"

#include <gtest/gtest.h>

#include "ringlb/operator/rfc3339.h"

namespace ringlb::op {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::chrono::system_clock::time_point at(const char* text) { return parseRfc3339(text).value(); }

json nodeWithReady(const char* status) {
  return {{"metadata", {{"name", "node-1"}}},
          {"status", {{"conditions", json::array({{{"type", "MemoryPressure"}, {"status", "False"}},
                                                  {{"type", "Ready"}, {"status", status}}})}}}};
}

TEST(NodeHealth, FollowsTheReadyCondition) {
  EXPECT_EQ(nodeHealth(nodeWithReady("True")), NodeHealth::Ready);
  EXPECT_EQ(nodeHealth(nodeWithReady("False")), NodeHealth::NotReady);
  EXPECT_EQ(nodeHealth(nodeWithReady("Unknown")), NodeHealth::Unknown);
  // A Node that never reported a Ready condition has no kubelet we know of.
  EXPECT_EQ(nodeHealth(json{{"metadata", {{"name", "node-1"}}}}), NodeHealth::Unknown);
}

TEST(TerminatingPod, ReadsDeletionTimestampAndNode) {
  const json pod = {{"metadata", {{"name", "apod-0"}, {"deletionTimestamp", "2026-12-06T08:00:00Z"}}},
                    {"spec", {{"nodeName", "node-2"}}}};
  const TerminatingPod view = terminatingPod(pod);
  ASSERT_TRUE(view.deletionTimestamp);
  EXPECT_EQ(*view.deletionTimestamp, at("2026-12-06T08:00:00Z"));
  EXPECT_EQ(view.nodeName, "node-2");
  EXPECT_FALSE(terminatingPod(json{{"metadata", {{"deletionTimestamp", "yesterday"}}}}).deletionTimestamp);
}

TEST(JudgeTerminatingPod, GivesAReadyNodeItsKubeletUntilTheBound) {
  const TerminatingPod pod{at("2026-12-06T08:00:00Z"), "node-1"};
  for (const NodeHealth node : {NodeHealth::Ready, NodeHealth::NotReady, NodeHealth::Unchecked}) {
    const auto early = judgeTerminatingPod(pod, node, at("2026-12-06T08:00:14Z"), seconds(15));
    EXPECT_FALSE(early.forceDelete);
    ASSERT_TRUE(early.forceAt);
    EXPECT_EQ(*early.forceAt, at("2026-12-06T08:00:15Z"));

    const auto due = judgeTerminatingPod(pod, node, at("2026-12-06T08:00:15Z"), seconds(15));
    EXPECT_TRUE(due.forceDelete);
    EXPECT_EQ(due.reason, "it is still terminating 15 s after its deletionTimestamp");
  }
}

TEST(JudgeTerminatingPod, BeforeItsDeletionTimestampAPodIsInItsGracePeriod) {
  const TerminatingPod pod{at("2026-12-06T08:00:30Z"), "node-1"};
  EXPECT_FALSE(judgeTerminatingPod(pod, NodeHealth::Ready, at("2026-12-06T08:00:00Z"), seconds(15)).forceDelete);
}

TEST(JudgeTerminatingPod, ALostNodeIsNotWaitedFor) {
  const TerminatingPod pod{at("2026-12-06T08:00:30Z"), "node-1"};
  const auto unknown = judgeTerminatingPod(pod, NodeHealth::Unknown, at("2026-12-06T08:00:00Z"), seconds(15));
  EXPECT_TRUE(unknown.forceDelete);
  EXPECT_NE(unknown.reason.find("node-1"), std::string::npos);
  EXPECT_NE(unknown.reason.find("Ready=Unknown"), std::string::npos);
  const auto missing = judgeTerminatingPod(pod, NodeHealth::Missing, at("2026-12-06T08:00:00Z"), seconds(15));
  EXPECT_TRUE(missing.forceDelete);
  EXPECT_EQ(missing.reason, "its Node node-1 no longer exists");
}

TEST(JudgeTerminatingPod, NoDeletionTimestampNeverMeansWaitForever) {
  const TerminatingPod pod{std::nullopt, "node-1"};
  EXPECT_TRUE(judgeTerminatingPod(pod, NodeHealth::Ready, at("2026-12-06T08:00:00Z"), seconds(15)).forceDelete);
}

TEST(LostNodeTolerations, EvictAfterTheGivenSecondsInsteadOfTheAdmissionDefault) {
  const json pod = withLostNodeTolerations(json{{"spec", {{"containers", json::array()}}}}, seconds(30));
  EXPECT_EQ(pod["spec"]["tolerations"],
            json::parse(R"([{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute",
                             "tolerationSeconds":30},
                            {"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute",
                             "tolerationSeconds":30}])"));
}

TEST(LostNodeTolerations, KeepTheUsersOwnToleration) {
  json pod = {{"spec", {{"tolerations", json::array({{{"key", "node.kubernetes.io/unreachable"},
                                                      {"operator", "Exists"},
                                                      {"effect", "NoExecute"},
                                                      {"tolerationSeconds", 600}},
                                                     {{"key", "dedicated"}, {"value", "lb"}, {"effect", "NoSchedule"}}})}}}};
  pod = withLostNodeTolerations(pod, seconds(30));
  ASSERT_EQ(pod["spec"]["tolerations"].size(), 3u);
  EXPECT_EQ(pod["spec"]["tolerations"][0]["tolerationSeconds"], 600);
  EXPECT_EQ(pod["spec"]["tolerations"][2]["key"], "node.kubernetes.io/not-ready");

  // A toleration of every taint covers both keys.
  json everything = {{"spec", {{"tolerations", json::array({{{"operator", "Exists"}}})}}}};
  EXPECT_EQ(withLostNodeTolerations(everything, seconds(30))["spec"]["tolerations"].size(), 1u);
}

}  // namespace
}  // namespace ringlb::op
