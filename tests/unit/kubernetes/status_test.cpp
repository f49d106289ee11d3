#include "ringlb/operator/kubernetes_status.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

using nlohmann::json;

Condition cond(std::string type, std::string status, std::string reason, std::string time = "") {
  return Condition{std::move(type), std::move(status), std::move(reason), "m", std::move(time), 0};
}

TEST(Conditions, FirstWriteStampsNowAndSortsByType) {
  auto merged = mergeConditions({}, {cond("Ready", "False", "ReplicasNotReady"), cond("Degraded", "False", "")}, 3,
                                "2026-01-01T00:00:00Z");
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].type, "Degraded");
  EXPECT_EQ(merged[0].reason, "Unknown");  // never empty
  EXPECT_EQ(merged[1].type, "Ready");
  for (const auto& c : merged) {
    EXPECT_EQ(c.lastTransitionTime, "2026-01-01T00:00:00Z");
    EXPECT_EQ(c.observedGeneration, 3);
  }
}

TEST(Conditions, TransitionTimeMovesOnlyWhenStatusChanges) {
  const std::vector<Condition> previous{cond("Ready", "False", "ReplicasNotReady", "T0"),
                                        cond("Progressing", "True", "ScalingUp", "T0")};
  // Same status, different reason and message: keeps T0.
  auto same = mergeConditions(previous, {cond("Ready", "False", "WaitingForReplicas"), cond("Progressing", "True", "ScalingUp")},
                              2, "T1");
  EXPECT_EQ(same[0].lastTransitionTime, "T0");
  EXPECT_EQ(same[1].lastTransitionTime, "T0");
  EXPECT_EQ(same[1].reason, "WaitingForReplicas");
  // Status flips: T1.
  auto flipped = mergeConditions(same, {cond("Ready", "True", "AllReplicasReady"), cond("Progressing", "False", "ReconcileComplete")},
                                 2, "T1");
  EXPECT_EQ(flipped[0].lastTransitionTime, "T1");
  EXPECT_EQ(flipped[1].lastTransitionTime, "T1");
  // And stays at T1 afterwards.
  auto later = mergeConditions(flipped, {cond("Ready", "True", "AllReplicasReady")}, 2, "T2");
  EXPECT_EQ(later[0].lastTransitionTime, "T1");
}

TEST(Conditions, DerivedFromCounts) {
  HashRingSpec spec;
  spec.replicas = 3;
  HashRingStatus status;
  status.observedGeneration = 4;
  status.replicas = 2;
  status.readyReplicas = 1;
  status.members = {{"apod-0", "a:1", ReplicaState::Ready, 0, ""}, {"apod-1", "a:2", ReplicaState::NotReady, 2, "exited: code 1"}};
  auto conditions = deriveConditions(conditionFactsOf(spec, status, 4));
  ASSERT_EQ(conditions.size(), 3u);
  EXPECT_EQ(conditions[0].type, "Degraded");
  EXPECT_EQ(conditions[0].status, "True");
  EXPECT_EQ(conditions[0].reason, "ReplicaFailing");
  EXPECT_NE(conditions[0].message.find("apod-1"), std::string::npos);
  EXPECT_EQ(conditions[1].type, "Progressing");
  EXPECT_EQ(conditions[1].reason, "ScalingUp");
  EXPECT_EQ(conditions[2].type, "Ready");
  EXPECT_EQ(conditions[2].status, "False");
  EXPECT_EQ(conditions[2].message, "1/3 replicas ready");

  status.replicas = 3;
  status.readyReplicas = 3;
  status.members = {{"apod-0", "a:1", ReplicaState::Ready, 0, ""},
                    {"apod-1", "a:2", ReplicaState::Ready, 0, ""},
                    {"apod-2", "a:3", ReplicaState::Ready, 0, ""}};
  conditions = deriveConditions(conditionFactsOf(spec, status, 4));
  EXPECT_EQ(conditions[0].status, "False");
  EXPECT_EQ(conditions[0].reason, "AsExpected");
  EXPECT_EQ(conditions[1].status, "False");
  EXPECT_EQ(conditions[2].status, "True");
  EXPECT_EQ(conditions[2].reason, "AllReplicasReady");
  for (const auto& c : conditions) EXPECT_EQ(c.observedGeneration, 4);
}

TEST(StatusJson, DeterministicOrderAndRoundTrip) {
  HashRingStatus status;
  status.observedGeneration = 2;
  status.replicas = 3;
  status.readyReplicas = 2;
  status.selector = "ringlb.dev/ring=apod";
  status.ringVersion = 9;
  status.members = {{"apod-10", "h:10", ReplicaState::Ready, 0, ""},
                    {"apod-2", "h:2", ReplicaState::Draining, 1, "x"},
                    {"apod-0", "", ReplicaState::Starting, 0, ""}};
  status.conditions = {cond("Ready", "True", "AllReplicasReady", "T"), cond("Degraded", "False", "AsExpected", "T")};
  const json out = hashRingStatusToJson(status);
  EXPECT_EQ(out["members"][0]["id"], "apod-0");
  EXPECT_EQ(out["members"][1]["id"], "apod-2");
  EXPECT_EQ(out["members"][2]["id"], "apod-10");  // numeric, not lexicographic
  EXPECT_FALSE(out["members"][0].contains("address"));
  EXPECT_EQ(out["members"][1]["state"], "Draining");
  EXPECT_EQ(out["conditions"][0]["type"], "Degraded");
  EXPECT_EQ(out["selector"], "ringlb.dev/ring=apod");

  // Shuffled input serializes identically.
  HashRingStatus shuffled = status;
  std::swap(shuffled.members[0], shuffled.members[2]);
  std::swap(shuffled.conditions[0], shuffled.conditions[1]);
  EXPECT_EQ(hashRingStatusToJson(shuffled).dump(), out.dump());

  const HashRingStatus back = hashRingStatusFromJson(out);
  EXPECT_EQ(hashRingStatusToJson(back).dump(), out.dump());
  EXPECT_EQ(back.ringVersion, 9u);
  EXPECT_EQ(back.members[1].state, ReplicaState::Draining);
  EXPECT_EQ(back.members[1].rampPermille, 1000u);
}

TEST(StatusJson, ARampIsWrittenOnlyBelowFullWeightAndReadBack) {
  HashRingStatus status;
  status.members = {{"apod-0", "h:0", ReplicaState::Ready, 0, ""}, {"apod-1", "h:1", ReplicaState::Ready, 0, ""}};
  status.members[1].rampPermille = 250;
  const json out = hashRingStatusToJson(status);
  EXPECT_FALSE(out["members"][0].contains("rampPermille"));
  EXPECT_EQ(out["members"][1]["rampPermille"], 250);
  const HashRingStatus back = hashRingStatusFromJson(out);
  EXPECT_EQ(back.members[0].rampPermille, 1000u);
  EXPECT_EQ(back.members[1].rampPermille, 250u);
  // A value past full weight (a hand-edited status) reads as full weight.
  json edited = out;
  edited["members"][1]["rampPermille"] = 5000;
  EXPECT_EQ(hashRingStatusFromJson(edited).members[1].rampPermille, 1000u);
}

TEST(Quantity, ParsesKubernetesSuffixes) {
  EXPECT_DOUBLE_EQ(parseQuantity("256Mi").value(), 268435456.0);
  EXPECT_DOUBLE_EQ(parseQuantity("1G").value(), 1e9);
  EXPECT_DOUBLE_EQ(parseQuantity("500m").value(), 0.5);
  EXPECT_DOUBLE_EQ(parseQuantity("2").value(), 2.0);
  EXPECT_DOUBLE_EQ(parseQuantity("1.5").value(), 1.5);
  EXPECT_DOUBLE_EQ(parseQuantity("2e3").value(), 2000.0);
  EXPECT_FALSE(parseQuantity("12Q").ok());
  EXPECT_FALSE(parseQuantity("Mi").ok());
  EXPECT_FALSE(parseQuantity("").ok());
}

TEST(Rfc3339, FormatsAndParses) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1767323045)) + std::chrono::microseconds(123456);
  EXPECT_EQ(formatRfc3339(t), "2026-01-02T03:04:05Z");
  EXPECT_EQ(formatRfc3339(t, true), "2026-01-02T03:04:05.123456Z");
  EXPECT_EQ(parseRfc3339("2026-01-02T03:04:05.123456Z").value(), t);
  EXPECT_EQ(parseRfc3339("2026-01-02T05:04:05.123456+02:00").value(), t);
  EXPECT_FALSE(parseRfc3339("yesterday").ok());
}

}  // namespace
}  // namespace ringlb::op
