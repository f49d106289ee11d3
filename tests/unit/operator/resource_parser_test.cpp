#include "ringlb/operator/resource_parser.h"

#include <gtest/gtest.h>

#include "ringlb/operator/ring_spec_mapping.h"

namespace ringlb::op {
namespace {

constexpr const char* kFull = R"yaml(apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {name: apod, namespace: demo, labels: {team: web}}
spec:
  replicas: 3
  template:
    image: ringlb/apod:0.1.0
    command: [ringlb-apod]
    args: ["--port", "$(PORT)"]
    port: 8080
    env: [{name: APOD_DATA, value: /data}]
    resources: {limits: {memory: 256Mi, cpu: 500m}}
  hashing:
    algorithm: maglev
    key: {source: header, name: X-User}
    virtualNodes: 100
    tableSize: 251
    loadFactor: 1.25
  healthCheck: {path: /healthz, intervalSeconds: 2, timeoutSeconds: 1, failureThreshold: 4, successThreshold: 2}
  drainSeconds: 7
status:
  readyReplicas: 3
)yaml";

TEST(ResourceParser, ParsesEveryField) {
  const auto parsed = parseHashRing(kFull, "apod.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const HashRing& ring = parsed.value();
  EXPECT_EQ(ring.key(), "demo/apod");
  EXPECT_EQ(ring.metadata.labels.at("team"), "web");
  EXPECT_EQ(ring.spec.replicas, 3);
  EXPECT_EQ(ring.spec.templ.image, "ringlb/apod:0.1.0");
  EXPECT_EQ(ring.spec.templ.command, std::vector<std::string>{"ringlb-apod"});
  EXPECT_EQ(ring.spec.templ.args, (std::vector<std::string>{"--port", "$(PORT)"}));
  EXPECT_EQ(ring.spec.templ.port, 8080);
  ASSERT_EQ(ring.spec.templ.env.size(), 1u);
  EXPECT_EQ(ring.spec.templ.env[0], (EnvVar{"APOD_DATA", "/data"}));
  EXPECT_EQ(ring.spec.templ.memoryBytes, 256u << 20);
  EXPECT_DOUBLE_EQ(*ring.spec.templ.cpus, 0.5);
  EXPECT_EQ(ring.spec.hashing.algorithm, ring::Algorithm::Maglev);
  EXPECT_EQ(ring.spec.hashing.key.source, ring::KeySource::Header);
  EXPECT_EQ(ring.spec.hashing.key.name, "X-User");
  EXPECT_EQ(ring.spec.hashing.virtualNodes, 100u);
  EXPECT_EQ(ring.spec.hashing.tableSize, 251u);
  EXPECT_DOUBLE_EQ(ring.spec.hashing.loadFactor, 1.25);
  EXPECT_EQ(ring.spec.healthCheck.intervalSeconds, 2u);
  EXPECT_EQ(ring.spec.healthCheck.failureThreshold, 4u);
  EXPECT_EQ(ring.spec.healthCheck.successThreshold, 2u);
  EXPECT_EQ(ring.spec.drainSeconds, 7u);
}

TEST(ResourceParser, ParsesAnchorCapacityAndSlotWeights) {
  const auto parsed = parseHashRing(R"(apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {name: a}
spec:
  replicas: 3
  template: {command: [x]}
  weights: [1, 2, 4]
  hashing: {algorithm: anchor, capacity: 16})",
                                    "a.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->spec.hashing.algorithm, ring::Algorithm::Anchor);
  EXPECT_EQ(parsed->spec.hashing.capacity, 16u);
  EXPECT_EQ(parsed->spec.weights, (std::vector<std::uint32_t>{1, 2, 4}));
}

TEST(ResourceParser, ProtocolDefaultsToHttp1AndTakesH2c) {
  const auto withProtocol = [](const std::string& line) {
    return parseHashRing("apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {name: a}\nspec:\n"
                         "  template: {command: [x]}\n" + line, "a.yaml");
  };
  const auto old = withProtocol("");
  ASSERT_TRUE(old.ok()) << old.error();
  EXPECT_EQ(old->spec.protocol, ring::UpstreamProtocol::Http1);
  const auto h2c = withProtocol("  protocol: h2c\n");
  ASSERT_TRUE(h2c.ok()) << h2c.error();
  EXPECT_EQ(h2c->spec.protocol, ring::UpstreamProtocol::H2c);
  EXPECT_EQ(ringSpecFor(h2c.value(), {}).protocol, ring::UpstreamProtocol::H2c) << "the published ring carries it";
}

TEST(ResourceParser, GrpcHealthCheckOnAnH2cRing) {
  const auto withCheck = [](const std::string& check) {
    return parseHashRing("apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {name: a}\nspec:\n"
                         "  template: {command: [x]}\n  protocol: h2c\n  healthCheck: " + check + "\n", "a.yaml");
  };
  const auto plain = withCheck("{path: /ready}");
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_FALSE(plain->spec.healthCheck.grpc) << "an h2c ring without grpc is probed with an HTTP/2 GET of the path";
  const auto whole = withCheck("{grpc: {}}");
  ASSERT_TRUE(whole.ok()) << whole.error();
  ASSERT_TRUE(whole->spec.healthCheck.grpc);
  EXPECT_EQ(whole->spec.healthCheck.grpc->service, "");
  const auto named = withCheck("{grpc: {service: ringlb.test.Echo}, timeoutSeconds: 2, intervalSeconds: 3}");
  ASSERT_TRUE(named.ok()) << named.error();
  EXPECT_EQ(named->spec.healthCheck.grpc->service, "ringlb.test.Echo");
  EXPECT_EQ(named->spec.healthCheck.timeoutSeconds, 2u);
  // What the Kubernetes API server hands back: the CRD defaults the path.
  const auto defaulted = withCheck("{path: /healthz, grpc: {service: \"\"}}");
  ASSERT_TRUE(defaulted.ok()) << defaulted.error();
  EXPECT_NE(plain->spec.healthCheck, whole->spec.healthCheck) << "a change of check kind restarts the probe loop";
}

TEST(ResourceParser, AppliesDefaults) {
  const auto parsed = parseHashRing(R"(apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {name: a}
spec: {template: {command: [x]}})",
                                    "a.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->key(), "default/a");
  EXPECT_EQ(parsed->spec.replicas, 1);
  EXPECT_EQ(parsed->spec.hashing.algorithm, ring::Algorithm::Ring);
  EXPECT_EQ(parsed->spec.hashing.virtualNodes, ring::kDefaultVirtualNodes);
  EXPECT_EQ(parsed->spec.hashing.capacity, ring::kDefaultAnchorCapacity);
  EXPECT_TRUE(parsed->spec.weights.empty());
  EXPECT_EQ(parsed->spec.healthCheck.path, "/healthz");
}

Result<HashRing> withBudget(const std::string& budget, int replicas = 3) {
  return parseHashRing("apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {name: a}\nspec:\n  replicas: " +
                           std::to_string(replicas) + "\n  template: {command: [x]}\n  podDisruptionBudget: " + budget +
                           "\n",
                       "a.yaml");
}

TEST(ResourceParser, DisruptionBudgetDefaultsToMaxUnavailableOneFromTwoReplicas) {
  const auto parsed = parseHashRing(R"(apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {name: a}
spec: {replicas: 3, template: {command: [x]}})",
                                    "a.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->spec.podDisruptionBudget, DisruptionBudget{});
  const auto budget = effectiveDisruptionBudget(parsed->spec.podDisruptionBudget, parsed->spec.replicas);
  ASSERT_TRUE(budget.has_value());
  EXPECT_EQ(budget->maxUnavailable, (IntOrPercent{1, false}));
  EXPECT_FALSE(budget->minAvailable.has_value());
  // Over one Pod a budget either blocks every drain or allows all: none.
  EXPECT_FALSE(effectiveDisruptionBudget(parsed->spec.podDisruptionBudget, 1).has_value());
  EXPECT_FALSE(effectiveDisruptionBudget(parsed->spec.podDisruptionBudget, 0).has_value());
}

TEST(ResourceParser, DisruptionBudgetTakesACountOrAPercentage) {
  auto parsed = withBudget("{maxUnavailable: 2}");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->spec.podDisruptionBudget.maxUnavailable, (IntOrPercent{2, false}));
  parsed = withBudget("{maxUnavailable: 25%}");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->spec.podDisruptionBudget.maxUnavailable, (IntOrPercent{25, true}));
  EXPECT_EQ(toString(*parsed->spec.podDisruptionBudget.maxUnavailable), "25%");
  parsed = withBudget("{minAvailable: \"75%\"}");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->spec.podDisruptionBudget.minAvailable, (IntOrPercent{75, true}));
  EXPECT_FALSE(parsed->spec.podDisruptionBudget.maxUnavailable.has_value());
  const auto effective = effectiveDisruptionBudget(parsed->spec.podDisruptionBudget, 3);
  ASSERT_TRUE(effective.has_value());
  EXPECT_FALSE(effective->maxUnavailable.has_value()) << "minAvailable replaces the default maxUnavailable";
  EXPECT_EQ(effective->minAvailable, (IntOrPercent{75, true}));
}

TEST(ResourceParser, DisruptionBudgetCanBeTurnedOff) {
  const auto parsed = withBudget("{enabled: false}");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_FALSE(parsed->spec.podDisruptionBudget.enabled);
  EXPECT_FALSE(effectiveDisruptionBudget(parsed->spec.podDisruptionBudget, 5).has_value());
}

TEST(ResourceParser, BadDisruptionBudgetsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"{maxUnavailable: 1, minAvailable: 2}", "a.yaml: spec.podDisruptionBudget: set maxUnavailable or minAvailable, not both"},
      {"{maxUnavailable: 150%}", "spec.podDisruptionBudget.maxUnavailable: must be a percentage from 0% to 100%, got '150%'"},
      {"{maxUnavailable: -1}", "spec.podDisruptionBudget.maxUnavailable: must be >= 0, got -1"},
      {"{minAvailable: half}", "spec.podDisruptionBudget.minAvailable: must be an integer or a percentage such as 25%, got 'half'"},
      {"{minAvailable: [1]}", "spec.podDisruptionBudget.minAvailable: must be an integer or a percentage such as 25%, got a list"},
      {"{enabled: maybe}", "spec.podDisruptionBudget.enabled: must be true or false, got 'maybe'"},
      {"{maxSurge: 1}", "spec.podDisruptionBudget.maxSurge: unknown field (allowed: enabled, maxUnavailable, minAvailable)"},
      {"true", "spec.podDisruptionBudget: must be a mapping, got 'true'"},
  };
  for (const auto& [budget, message] : cases) {
    const auto parsed = withBudget(budget);
    ASSERT_FALSE(parsed.ok()) << budget;
    EXPECT_NE(parsed.error().find(message), std::string::npos) << budget << " -> " << parsed.error();
  }
}

std::string withRollout(const std::string& rollout) {
  return "apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {name: apod}\nspec:\n  template: {command: [x]}\n" +
         rollout;
}

TEST(ResourceParser, Rollout) {
  const auto off = parseHashRings(withRollout(""), "apod.yaml");
  ASSERT_TRUE(off.errors.empty()) << off.errors.front().message;
  EXPECT_FALSE(off.rings[0].spec.rollout.paced());
  const auto paced = parseHashRings(withRollout("  rollout: {keyspacePerStep: 0.1, stepSeconds: 3, slowStartAfterSeconds: 30}\n"),
                                    "apod.yaml");
  ASSERT_TRUE(paced.errors.empty()) << paced.errors.front().message;
  EXPECT_EQ(paced.rings[0].spec.rollout, (Rollout{0.1, 3, 30}));
  EXPECT_TRUE(paced.rings[0].spec.rollout.paced());
}

TEST(ResourceParser, MultipleDocuments) {
  const std::string text = std::string(kFull) + "---\n" + R"(apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {name: second}
spec: {replicas: 0, template: {command: [x]}}
---
)";
  const auto parsed = parseHashRings(text, "rings.yaml");
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors.front().message;
  ASSERT_EQ(parsed.rings.size(), 2u);
  EXPECT_EQ(parsed.rings[1].metadata.name, "second");
  EXPECT_EQ(parsed.rings[1].spec.replicas, 0);
}

struct BadResource {
  const char* name;
  std::string yaml;
  std::string error;  // the exact message
};

std::string withSpec(const std::string& spec) {
  return "apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {name: apod}\nspec:\n" + spec;
}

std::string withTemplate(const std::string& fields) {
  return withSpec("  template:\n    image: ringlb/apod:0.1.0\n    " + fields + "\n");
}

class ResourceParserRejects : public ::testing::TestWithParam<BadResource> {};

TEST_P(ResourceParserRejects, WithFileFieldAndReason) {
  const auto parsed = parseHashRings(GetParam().yaml, "examples/apod.yaml");
  EXPECT_TRUE(parsed.rings.empty());
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].message, GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ResourceParserRejects,
    ::testing::Values(
        BadResource{"NegativeReplicas", withSpec("  replicas: -1\n  template: {command: [x]}\n"),
                    "examples/apod.yaml: spec.replicas: must be >= 0, got -1"},
        BadResource{"ReplicasNotANumber", withSpec("  replicas: three\n  template: {command: [x]}\n"),
                    "examples/apod.yaml: spec.replicas: must be an integer, got 'three'"},
        BadResource{"ReplicasFraction", withSpec("  replicas: 1.5\n  template: {command: [x]}\n"),
                    "examples/apod.yaml: spec.replicas: must be an integer, got '1.5'"},
        BadResource{"UnknownSpecField", withSpec("  replica: 3\n  template: {command: [x]}\n"),
                    "examples/apod.yaml: spec.replica: unknown field (allowed: replicas, template, hashing, "
                    "weights, healthCheck, drainSeconds, podDisruptionBudget, protocol, rollout)"},
        BadResource{"BadProtocol", withSpec("  template: {command: [x]}\n  protocol: h2\n"),
                    "examples/apod.yaml: spec.protocol: must be one of http1, h2c, got 'h2'"},
        BadResource{"RolloutPaceAboveOne", withSpec("  template: {command: [x]}\n  rollout: {keyspacePerStep: 1.5}\n"),
                    "examples/apod.yaml: spec.rollout.keyspacePerStep: must be a fraction of the keyspace from 0 "
                    "(off) to 1, got 1.5"},
        BadResource{"RolloutPaceBelowAThousandth",
                    withSpec("  template: {command: [x]}\n  rollout: {keyspacePerStep: 0.0001}\n"),
                    "examples/apod.yaml: spec.rollout.keyspacePerStep: must be at least 0.001 (a ramp moves in "
                    "thousandths of a weight), got 0.0001"},
        BadResource{"RolloutStepZero", withSpec("  template: {command: [x]}\n  rollout: {stepSeconds: 0}\n"),
                    "examples/apod.yaml: spec.rollout.stepSeconds: must be >= 1, got 0"},
        BadResource{"RolloutUnknownField", withSpec("  template: {command: [x]}\n  rollout: {pace: 0.1}\n"),
                    "examples/apod.yaml: spec.rollout.pace: unknown field (allowed: keyspacePerStep, stepSeconds, "
                    "slowStartAfterSeconds)"},
        BadResource{"UnknownNestedField", withSpec("  template: {command: [x], imagePullPolicy: Always}\n"),
                    "examples/apod.yaml: spec.template.imagePullPolicy: unknown field (allowed: image, command, args, "
                    "port, env, resources, securityContext, nodeSelector, tolerations, affinity, "
                    "topologySpreadConstraints, imagePullSecrets, serviceAccountName, volumes, volumeMounts)"},
        BadResource{"MissingTemplate", withSpec("  replicas: 3\n"),
                    "examples/apod.yaml: spec.template: missing required field"},
        BadResource{"EmptyTemplate", withSpec("  template: {port: 80}\n"),
                    "examples/apod.yaml: spec.template: needs a command (process runtime) or an image (docker, "
                    "kubernetes)"},
        BadResource{"CommandNotAList", withSpec("  template: {command: ringlb-apod}\n"),
                    "examples/apod.yaml: spec.template.command: must be a list of strings, got 'ringlb-apod'"},
        BadResource{"BadPort", withSpec("  template: {command: [x], port: 70000}\n"),
                    "examples/apod.yaml: spec.template.port: must be <= 65535, got 70000"},
        BadResource{"BadAlgorithm", withSpec("  template: {command: [x]}\n  hashing: {algorithm: rendezvous}\n"),
                    "examples/apod.yaml: spec.hashing.algorithm: must be one of ring, maglev, anchor, got 'rendezvous'"},
        BadResource{"AnchorCapacityTooSmall",
                    withSpec("  replicas: 3\n  weights: [1, 1, 3]\n  template: {command: [x]}\n"
                             "  hashing: {algorithm: anchor, capacity: 4}\n"),
                    "examples/apod.yaml: spec.hashing.capacity: 4 buckets cannot hold 3 replicas with their weights "
                    "(5 needed)"},
        BadResource{"ZeroWeight", withSpec("  template: {command: [x]}\n  weights: [1, 0]\n"),
                    "examples/apod.yaml: spec.weights[1]: must be >= 1, got 0"},
        BadResource{"WeightsNotAList", withSpec("  template: {command: [x]}\n  weights: 2\n"),
                    "examples/apod.yaml: spec.weights: must be a list of integers (slot i's weight), got '2'"},
        BadResource{"HeaderKeyWithoutName", withSpec("  template: {command: [x]}\n  hashing: {key: {source: header}}\n"),
                    "examples/apod.yaml: spec.hashing.key.name: is required when key.source is header"},
        BadResource{"MaglevNotPrime", withSpec("  template: {command: [x]}\n  hashing: {algorithm: maglev, tableSize: 100}\n"),
                    "examples/apod.yaml: spec.hashing.tableSize: must be prime for maglev, got 100"},
        BadResource{"LoadFactorBelowOne", withSpec("  template: {command: [x]}\n  hashing: {loadFactor: 0.5}\n"),
                    "examples/apod.yaml: spec.hashing.loadFactor: must be 0 (off) or >= 1.0, got 0.5"},
        BadResource{"ZeroInterval", withSpec("  template: {command: [x]}\n  healthCheck: {intervalSeconds: 0}\n"),
                    "examples/apod.yaml: spec.healthCheck.intervalSeconds: must be >= 1, got 0"},
        BadResource{"GrpcHealthOnHttp1Ring", withSpec("  template: {command: [x]}\n  healthCheck: {grpc: {}}\n"),
                    "examples/apod.yaml: spec.healthCheck.grpc: a gRPC health check needs spec.protocol h2c (gRPC "
                    "runs over HTTP/2), got http1"},
        BadResource{"GrpcHealthWithAPath",
                    withSpec("  template: {command: [x]}\n  protocol: h2c\n  healthCheck: {path: /ready, grpc: {}}\n"),
                    "examples/apod.yaml: spec.healthCheck.path: not used by a gRPC health check (grpc.service names "
                    "what is checked), got '/ready'"},
        BadResource{"GrpcHealthUnknownField",
                    withSpec("  template: {command: [x]}\n  protocol: h2c\n  healthCheck: {grpc: {port: 9090}}\n"),
                    "examples/apod.yaml: spec.healthCheck.grpc.port: unknown field (allowed: service)"},
        BadResource{"GrpcHealthNotAMapping",
                    withSpec("  template: {command: [x]}\n  protocol: h2c\n  healthCheck: {grpc: yes}\n"),
                    "examples/apod.yaml: spec.healthCheck.grpc: must be a mapping, got 'yes'"},
        BadResource{"GrpcHealthServiceTooLong",
                    withSpec("  template: {command: [x]}\n  protocol: h2c\n  healthCheck: {grpc: {service: " +
                             std::string(1025, 's') + "}}\n"),
                    "examples/apod.yaml: spec.healthCheck.grpc.service: must be at most 1024 characters"},
        BadResource{"RelativeHealthPath", withSpec("  template: {command: [x]}\n  healthCheck: {path: healthz}\n"),
                    "examples/apod.yaml: spec.healthCheck.path: must start with '/', got 'healthz'"},
        BadResource{"DuplicateEnv",
                    withSpec("  template: {command: [x], env: [{name: A, value: '1'}, {name: A, value: '2'}]}\n"),
                    "examples/apod.yaml: spec.template.env[1].name: duplicate variable 'A'"},
        BadResource{"WrongKind",
                    "apiVersion: ringlb.dev/v1alpha1\nkind: Deployment\nmetadata: {name: a}\nspec: {template: {command: [x]}}\n",
                    "examples/apod.yaml: kind: must be HashRing, got 'Deployment'"},
        BadResource{"WrongApiVersion",
                    "apiVersion: ringlb.dev/v1\nkind: HashRing\nmetadata: {name: a}\nspec: {template: {command: [x]}}\n",
                    "examples/apod.yaml: apiVersion: must be ringlb.dev/v1alpha1, got 'ringlb.dev/v1'"},
        BadResource{"BadName",
                    "apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {name: Apod_1}\nspec: {template: {command: [x]}}\n",
                    "examples/apod.yaml: metadata.name: must be a DNS label of at most 57 characters ([a-z0-9-]), got "
                    "'Apod_1'"},
        BadResource{"MissingName",
                    "apiVersion: ringlb.dev/v1alpha1\nkind: HashRing\nmetadata: {}\nspec: {template: {command: [x]}}\n",
                    "examples/apod.yaml: metadata.name: missing required field"},
        BadResource{"RequestAboveLimit", withTemplate("resources: {requests: {memory: 512Mi}, limits: {memory: 256Mi}}"),
                    "examples/apod.yaml: spec.template.resources.requests.memory: must not exceed the memory limit (256Mi), got '512Mi'"},
        BadResource{"CpuRequestAboveShorthandLimit", withTemplate("resources: {requests: {cpu: '2'}, cpus: 500m}"),
                    "examples/apod.yaml: spec.template.resources.requests.cpu: must not exceed the cpu limit (500m), got '2'"},
        BadResource{"ShorthandConflictsWithLimit", withTemplate("resources: {memory: 1Gi, limits: {memory: 256Mi}}"),
                    "examples/apod.yaml: spec.template.resources.memory: conflicts with spec.template.resources.limits.memory (memory is its shorthand; set one)"},
        BadResource{"BadCpuRequest", withTemplate("resources: {requests: {cpu: lots}}"),
                    "examples/apod.yaml: spec.template.resources.requests.cpu: must be a positive CPU quantity such as 500m or 1.5, got 'lots'"},
        BadResource{"BadOtherQuantity", withTemplate("resources: {limits: {ephemeral-storage: 1GB}}"),
                    "examples/apod.yaml: spec.template.resources.limits.ephemeral-storage: must be a Kubernetes quantity such as 1Gi or 500m, got '1GB'"},
        BadResource{"UnknownResourcesField", withTemplate("resources: {limit: {cpu: 1}}"),
                    "examples/apod.yaml: spec.template.resources.limit: unknown field (allowed: requests, limits, memory, cpus)"},
        BadResource{"RootUser", withTemplate("securityContext: {runAsUser: 0}"),
                    "examples/apod.yaml: spec.template.securityContext.runAsUser: must not be 0 (root): Pod Security restricted forbids it"},
        BadResource{"PrivilegedIsNotOffered", withTemplate("securityContext: {privileged: true}"),
                    "examples/apod.yaml: spec.template.securityContext.privileged: unknown field (allowed: runAsUser, runAsGroup, fsGroup, supplementalGroups)"},
        BadResource{"BadTolerationOperator", withTemplate("tolerations: [{key: dedicated, operator: Equals, value: ringlb}]"),
                    "examples/apod.yaml: spec.template.tolerations[0].operator: must be one of Equal, Exists, got 'Equals'"},
        BadResource{"BadTolerationEffect", withTemplate("tolerations: [{key: a, effect: NoRun}]"),
                    "examples/apod.yaml: spec.template.tolerations[0].effect: must be one of \"\", NoSchedule, PreferNoSchedule, NoExecute, got 'NoRun'"},
        BadResource{"ExistsWithValue", withTemplate("tolerations: [{key: a, operator: Exists, value: b}]"),
                    "examples/apod.yaml: spec.template.tolerations[0].value: must be empty when operator is Exists"},
        BadResource{"TolerationSecondsWithoutNoExecute", withTemplate("tolerations: [{key: a, value: b, effect: NoSchedule, tolerationSeconds: 30}]"),
                    "examples/apod.yaml: spec.template.tolerations[0].tolerationSeconds: is only allowed with effect NoExecute"},
        BadResource{"TolerationsNotAList", withTemplate("tolerations: {key: a}"),
                    "examples/apod.yaml: spec.template.tolerations: must be a list of tolerations, got a mapping"},
        BadResource{"AffinityTypo", withTemplate("affinity: {nodeAfinity: {}}"),
                    "examples/apod.yaml: spec.template.affinity.nodeAfinity: unknown field (allowed: nodeAffinity, podAffinity, podAntiAffinity)"},
        BadResource{"SpreadWithoutTopologyKey", withTemplate("topologySpreadConstraints: [{maxSkew: 1, whenUnsatisfiable: DoNotSchedule}]"),
                    "examples/apod.yaml: spec.template.topologySpreadConstraints[0].topologyKey: missing required field"},
        BadResource{"SpreadSkewZero", withTemplate("topologySpreadConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]"),
                    "examples/apod.yaml: spec.template.topologySpreadConstraints[0].maxSkew: must be >= 1, got 0"},
        BadResource{"SpreadBadWhen", withTemplate("topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: Never}]"),
                    "examples/apod.yaml: spec.template.topologySpreadConstraints[0].whenUnsatisfiable: must be one of DoNotSchedule, ScheduleAnyway, got 'Never'"},
        BadResource{"PullSecretAsString", withTemplate("imagePullSecrets: [regcred]"),
                    "examples/apod.yaml: spec.template.imagePullSecrets[0]: must be a mapping, got 'regcred'"},
        BadResource{"BadServiceAccount", withTemplate("serviceAccountName: My_Account"),
                    "examples/apod.yaml: spec.template.serviceAccountName: must be a ServiceAccount name ([a-z0-9.-], at most 253), got 'My_Account'"},
        BadResource{"NodeSelectorNotAMap", withTemplate("nodeSelector: [disk]"),
                    "examples/apod.yaml: spec.template.nodeSelector: must be a mapping, got a list"},
        BadResource{"VolumeWithoutSource", withTemplate("volumes: [{name: data}]"),
                    "examples/apod.yaml: spec.template.volumes[0]: needs exactly one volume source (emptyDir, configMap, secret, projected, ...), got 0"},
        BadResource{"VolumeWithTwoSources", withTemplate("volumes: [{name: data, emptyDir: {}, configMap: {name: c}}]"),
                    "examples/apod.yaml: spec.template.volumes[0]: needs exactly one volume source (emptyDir, configMap, secret, projected, ...), got 2"},
        BadResource{"VolumeSourceNull", withTemplate("volumes: [{name: data, emptyDir: }]"),
                    "examples/apod.yaml: spec.template.volumes[0].emptyDir: must be a mapping (a volume source; {} for its defaults), got null"},
        BadResource{"DuplicateVolume", withTemplate("volumes: [{name: a, emptyDir: {}}, {name: a, emptyDir: {}}]"),
                    "examples/apod.yaml: spec.template.volumes[1].name: duplicate volume 'a'"},
        BadResource{"MountOfUnknownVolume", withTemplate("volumeMounts: [{name: data, mountPath: /data}]"),
                    "examples/apod.yaml: spec.template.volumeMounts[0].name: names no volume in spec.template.volumes (nor the default tmp), got 'data'"},
        BadResource{"MountOverTmp", withTemplate("volumes: [{name: data, emptyDir: {}}]\n    volumeMounts: [{name: data, mountPath: /tmp}]"),
                    "examples/apod.yaml: spec.template.volumeMounts[0].mountPath: /tmp is the default writable emptyDir; to change it, name a volume tmp"},
        BadResource{"RelativeMountPath", withTemplate("volumes: [{name: data, emptyDir: {}}]\n    volumeMounts: [{name: data, mountPath: data}]"),
                    "examples/apod.yaml: spec.template.volumeMounts[0].mountPath: must be an absolute path, got 'data'"},
        BadResource{"MountReadOnlyNotABool", withTemplate("volumes: [{name: data, emptyDir: {}}]\n    volumeMounts: [{name: data, mountPath: /data, readOnly: yes}]"),
                    "examples/apod.yaml: spec.template.volumeMounts[0].readOnly: must be true or false, got 'yes'"},
        BadResource{"NotAMapping", "- just\n- a list\n",
                    "examples/apod.yaml: a HashRing document must be a mapping, got a list"}),
    [](const auto& testInfo) { return std::string(testInfo.param.name); });

constexpr const char* kPodSettings = R"yaml(apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {name: apod}
spec:
  template:
    image: ringlb/apod:0.1.0
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {memory: 256Mi, ephemeral-storage: 1Gi}
      cpus: "2"
    securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}
    nodeSelector: {disktype: ssd, "ringlb.dev/pool": "true"}
    tolerations:
      - {key: dedicated, operator: Equal, value: "0123", effect: NoSchedule}
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 30}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a, b]}]}]
    topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}
    imagePullSecrets: [{name: regcred}]
    serviceAccountName: apod-reader
    volumes:
      - {name: data, configMap: {name: apod-data, defaultMode: 0444}}
      - {name: tmp, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
    volumeMounts:
      - {name: data, mountPath: /data, readOnly: true}
)yaml";

TEST(ResourceParser, ParsesResourcesSecurityContextAndPodSettings) {
  using nlohmann::json;
  const auto parsed = parseHashRing(kPodSettings, "apod.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const ReplicaTemplate& templ = parsed->spec.templ;
  EXPECT_EQ(templ.resources.requests, (std::map<std::string, std::string>{{"cpu", "100m"}, {"memory", "64Mi"}}));
  EXPECT_EQ(templ.resources.limits,
            (std::map<std::string, std::string>{{"cpu", "2"}, {"ephemeral-storage", "1Gi"}, {"memory", "256Mi"}}));
  EXPECT_EQ(templ.memoryBytes, 256u << 20);  // what docker applies
  EXPECT_DOUBLE_EQ(templ.cpus.value_or(0), 2.0);
  EXPECT_EQ(templ.securityContext.runAsUser, 1000);
  EXPECT_EQ(templ.securityContext.runAsGroup, 3000);
  EXPECT_EQ(templ.securityContext.fsGroup, 2000);
  EXPECT_EQ(templ.securityContext.supplementalGroups, std::vector<std::int64_t>{4000});
  const PodSettings& pod = templ.pod;
  EXPECT_EQ(pod.nodeSelector, (std::map<std::string, std::string>{{"disktype", "ssd"}, {"ringlb.dev/pool", "true"}}));
  EXPECT_EQ(pod.tolerations, json::parse(R"([
      {"key": "dedicated", "operator": "Equal", "value": "0123", "effect": "NoSchedule"},
      {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}])"));
  EXPECT_EQ(pod.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
                        ["matchExpressions"][0],
            json::parse(R"({"key": "zone", "operator": "In", "values": ["a", "b"]})"));
  EXPECT_EQ(pod.topologySpreadConstraints,
            json::parse(R"([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}])"));
  EXPECT_EQ(pod.imagePullSecrets, std::vector<std::string>{"regcred"});
  EXPECT_EQ(pod.serviceAccountName, "apod-reader");
  // defaultMode 0444 is octal, as kubectl reads it.
  EXPECT_EQ(pod.volumes, json::parse(R"([{"name": "data", "configMap": {"name": "apod-data", "defaultMode": 292}},
      {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}])"));
  EXPECT_EQ(pod.volumeMounts, json::parse(R"([{"name": "data", "mountPath": "/data", "readOnly": true}])"));
}

TEST(ResourceParser, PodSettingsFromTheApiServerKeepTheirJsonTypes) {
  using nlohmann::json;
  // Strings that look like numbers or booleans stay strings; numbers stay numbers.
  const std::string object = R"({"apiVersion":"ringlb.dev/v1alpha1","kind":"HashRing",
    "metadata":{"name":"apod","namespace":"prod","uid":"u-1","generation":2},
    "spec":{"template":{"image":"ringlb/apod:0.1.0","port":8080,
      "resources":{"memory":268435456,"requests":{"cpu":"50m"}},
      "nodeSelector":{"pool":"true"},
      "tolerations":[{"key":"k","operator":"Equal","value":"12","effect":"NoExecute","tolerationSeconds":60}],
      "volumes":[{"name":"cfg","configMap":{"name":"c","optional":true,"defaultMode":420}}]}}})";
  const auto parsed = parseHashRing(object, "prod/apod", ParseOptions{true});
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  const ReplicaTemplate& templ = parsed->spec.templ;
  EXPECT_EQ(templ.memoryBytes, 268435456u);
  EXPECT_EQ(templ.resources.limits.at("memory"), "268435456");
  EXPECT_EQ(templ.pod.nodeSelector.at("pool"), "true");
  EXPECT_EQ(templ.pod.tolerations[0]["value"], json("12"));
  EXPECT_EQ(templ.pod.tolerations[0]["tolerationSeconds"], json(60));
  EXPECT_EQ(templ.pod.volumes[0]["configMap"], json::parse(R"({"name": "c", "optional": true, "defaultMode": 420})"));
}

TEST(ResourceParser, LimitsAloneStillWork) {
  const auto parsed = parseHashRing(withTemplate("resources: {limits: {memory: 128Mi, cpu: 250m}}"), "apod.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->spec.templ.memoryBytes, 128u << 20);
  EXPECT_DOUBLE_EQ(parsed->spec.templ.cpus.value_or(0), 0.25);
  EXPECT_TRUE(parsed->spec.templ.resources.requests.empty());
  EXPECT_TRUE(parsed->spec.templ.pod.empty());
}

TEST(ResourceParser, InvalidYamlNamesTheLine) {
  const auto parsed = parseHashRings("apiVersion: ringlb.dev/v1alpha1\nspec: {replicas: [1,\n", "broken.yaml");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].message.rfind("broken.yaml: invalid YAML at line ", 0), 0u) << parsed.errors[0].message;
  EXPECT_TRUE(parsed.errors[0].key.empty());
}

// Found by tests/fuzz (hash_ring_yaml): yaml-cpp 0.7's LoadAll looped forever, allocating, on these.
TEST(ResourceParser, StrayCommaIsAnErrorNotAHang) {
  for (const std::string& text : {std::string(","), std::string(kFull) + "---\n[a],\n", std::string("{a: b},")}) {
    const auto parsed = parseHashRings(text, "comma.yaml");
    EXPECT_TRUE(parsed.rings.empty());
    ASSERT_EQ(parsed.errors.size(), 1u) << text;
    EXPECT_EQ(parsed.errors[0].message.rfind("comma.yaml: invalid YAML at line ", 0), 0u) << parsed.errors[0].message;
  }
  const auto line = parseHashRings("- a\n,\n", "comma.yaml");
  ASSERT_EQ(line.errors.size(), 1u);
  EXPECT_EQ(line.errors[0].message, "comma.yaml: invalid YAML at line 2, column 1: unexpected token (such as a stray ',')");
}

TEST(ResourceParser, ErrorsCarryTheRingTheyMeantAndTheDocument) {
  const std::string text = std::string(kFull) + "---\n" + withSpec("  replicas: -1\n  template: {command: [x]}\n");
  const auto parsed = parseHashRings(text, "rings.yaml");
  ASSERT_EQ(parsed.rings.size(), 1u);
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].key, "default/apod");
  EXPECT_EQ(parsed.errors[0].message, "rings.yaml (document 2): spec.replicas: must be >= 0, got -1");
}

TEST(ResourceParser, KubernetesObjectsMayCarryServerMetadata) {
  const std::string object = R"({"apiVersion":"ringlb.dev/v1alpha1","kind":"HashRing",
    "metadata":{"name":"apod","namespace":"prod","uid":"u-1","resourceVersion":"77","generation":4,
                "creationTimestamp":"2026-01-01T00:00:00Z","managedFields":[]},
    "spec":{"replicas":2,"template":{"image":"ringlb/apod:0.1.0"}},"status":{"replicas":2}})";
  EXPECT_FALSE(parseHashRing(object, "file").ok()) << "files reject unknown metadata";
  const auto parsed = parseHashRing(object, "prod/apod", ParseOptions{true});
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->metadata.generation, 4);
  EXPECT_EQ(parsed->metadata.uid, "u-1");
  EXPECT_EQ(parsed->metadata.resourceVersion, "77");
}

}  // namespace
}  // namespace ringlb::op
