#include "ringlb/operator/ignored_template_fields.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

using Fields = std::vector<std::string>;

ReplicaTemplate everyPodField() {
  ReplicaTemplate templ;
  templ.image = "ringlb/apod:0.1.0";
  templ.resources.requests = {{"cpu", "100m"}};
  templ.resources.limits = {{"memory", "256Mi"}, {"cpu", "1"}, {"ephemeral-storage", "1Gi"}};
  templ.securityContext.runAsUser = 1000;
  templ.securityContext.runAsGroup = 3000;
  templ.securityContext.fsGroup = 2000;
  templ.pod.nodeSelector = {{"disk", "ssd"}};
  templ.pod.tolerations = nlohmann::json::array({{{"operator", "Exists"}}});
  templ.pod.volumes = nlohmann::json::array({{{"name", "data"}, {"emptyDir", nlohmann::json::object()}}});
  return templ;
}

TEST(IgnoredTemplateFields, ProcessRuntimeAppliesNoneOfThem) {
  EXPECT_EQ(ignoredTemplateFields(everyPodField(), {}),
            (Fields{"spec.template.resources.requests", "spec.template.resources.limits.cpu",
                    "spec.template.resources.limits.ephemeral-storage", "spec.template.resources.limits.memory",
                    "spec.template.securityContext.runAsUser", "spec.template.securityContext.runAsGroup",
                    "spec.template.securityContext.fsGroup", "spec.template.nodeSelector", "spec.template.tolerations",
                    "spec.template.volumes"}));
}

TEST(IgnoredTemplateFields, DockerMapsCpuAndMemoryLimitsAndTheUser) {
  EXPECT_EQ(ignoredTemplateFields(everyPodField(), {.limits = true, .user = true}),
            (Fields{"spec.template.resources.requests", "spec.template.resources.limits.ephemeral-storage",
                    "spec.template.securityContext.fsGroup", "spec.template.nodeSelector", "spec.template.tolerations",
                    "spec.template.volumes"}));
  ReplicaTemplate groupOnly;
  groupOnly.securityContext.runAsGroup = 3000;
  EXPECT_EQ(ignoredTemplateFields(groupOnly, {.limits = true, .user = true}),
            Fields{"spec.template.securityContext.runAsGroup"})
      << "a group alone is no Docker user";
}

TEST(IgnoredTemplateFields, APlainTemplateHasNone) {
  ReplicaTemplate templ;
  templ.command = {"ringlb-apod"};
  templ.env = {{"A", "1"}};
  EXPECT_TRUE(ignoredTemplateFields(templ, {}).empty());
}

TEST(IgnoredFieldWarnings, WarnsOncePerRingAndAgainWhenTheFieldsChange) {
  IgnoredFieldWarnings warnings("process", {});
  ReplicaSpec spec;
  spec.ring = "apod";
  spec.ringNamespace = "default";
  spec.templ.pod.nodeSelector = {{"disk", "ssd"}};
  EXPECT_EQ(warnings.check(spec), Fields{"spec.template.nodeSelector"});
  spec.slot = "apod-1";
  EXPECT_TRUE(warnings.check(spec).empty()) << "another slot of the same ring: already said";
  ReplicaSpec other = spec;
  other.ring = "web";
  EXPECT_EQ(warnings.check(other), Fields{"spec.template.nodeSelector"}) << "another ring is told too";
  spec.templ.pod.serviceAccountName = "apod";
  EXPECT_EQ(warnings.check(spec), (Fields{"spec.template.nodeSelector", "spec.template.serviceAccountName"}));
  ReplicaSpec plain = spec;
  plain.templ.pod = {};
  EXPECT_TRUE(warnings.check(plain).empty());
}

TEST(IgnoredRingFields, OnlyABudgetOtherThanTheDefaultIsNamed) {
  RingPolicy policy;
  policy.ring = "apod";
  EXPECT_EQ(ignoredRingFields(policy), Fields{});
  policy.writtenBudget.maxUnavailable = IntOrPercent{2, false};
  EXPECT_EQ(ignoredRingFields(policy), Fields{"spec.podDisruptionBudget"});
  policy.writtenBudget = DisruptionBudget{};
  policy.writtenBudget.enabled = false;
  EXPECT_EQ(ignoredRingFields(policy), Fields{"spec.podDisruptionBudget"});
}

TEST(IgnoredFieldWarnings, WarnsAboutARingsBudgetOnce) {
  IgnoredFieldWarnings warnings("process", {});
  RingPolicy policy;
  policy.ring = "apod";
  policy.writtenBudget.minAvailable = IntOrPercent{1, false};
  EXPECT_EQ(warnings.check(policy), Fields{"spec.podDisruptionBudget"});
  EXPECT_EQ(warnings.check(policy), Fields{}) << "once per ring";
  policy.ring = "other";
  EXPECT_EQ(warnings.check(policy), Fields{"spec.podDisruptionBudget"});
}

}  // namespace
}  // namespace ringlb::op
