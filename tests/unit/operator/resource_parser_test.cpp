#include "ringlb/operator/resource_parser.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(parsed->spec.healthCheck.path, "/healthz");
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
                    "healthCheck, drainSeconds)"},
        BadResource{"UnknownNestedField", withSpec("  template: {command: [x], imagePullPolicy: Always}\n"),
                    "examples/apod.yaml: spec.template.imagePullPolicy: unknown field (allowed: image, command, args, "
                    "port, env, resources)"},
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
                    "examples/apod.yaml: spec.hashing.algorithm: must be one of ring, maglev, got 'rendezvous'"},
        BadResource{"HeaderKeyWithoutName", withSpec("  template: {command: [x]}\n  hashing: {key: {source: header}}\n"),
                    "examples/apod.yaml: spec.hashing.key.name: is required when key.source is header"},
        BadResource{"MaglevNotPrime", withSpec("  template: {command: [x]}\n  hashing: {algorithm: maglev, tableSize: 100}\n"),
                    "examples/apod.yaml: spec.hashing.tableSize: must be prime for maglev, got 100"},
        BadResource{"LoadFactorBelowOne", withSpec("  template: {command: [x]}\n  hashing: {loadFactor: 0.5}\n"),
                    "examples/apod.yaml: spec.hashing.loadFactor: must be 0 (off) or >= 1.0, got 0.5"},
        BadResource{"ZeroInterval", withSpec("  template: {command: [x]}\n  healthCheck: {intervalSeconds: 0}\n"),
                    "examples/apod.yaml: spec.healthCheck.intervalSeconds: must be >= 1, got 0"},
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
        BadResource{"NotAMapping", "- just\n- a list\n",
                    "examples/apod.yaml: a HashRing document must be a mapping, got a list"}),
    [](const auto& testInfo) { return std::string(testInfo.param.name); });

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
