#include "ringlb/operator/docker_container_config.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

using Json = nlohmann::json;

ReplicaSpec apodSpec() {
  ReplicaSpec spec;
  spec.ring = "apod";
  spec.slot = "apod-2";
  spec.ordinal = 2;
  spec.specHash = "h123";
  spec.templ.image = "ringlb/apod:0.1.0";
  spec.templ.args = {"--port", "$(PORT)", "--listen-address", "127.0.0.1", "--slot=$(RINGLB_SLOT)"};
  spec.templ.env = {{"APOD_DATA", "/data"}, {"GREETING", "port $(PORT) of $(APOD_DATA), $$(PORT) literal"}};
  return spec;
}

TEST(DockerContainerConfig, NameIsRinglbDashSlot) {
  EXPECT_EQ(dockerContainerName(apodSpec()), "ringlb-apod-2");
}

TEST(DockerContainerConfig, HostNetworkBodyExactly) {
  DockerRuntimeOptions options;
  options.version = "0.1.0";
  const auto body = dockerContainerCreateBody(apodSpec(), options, 41234);
  ASSERT_TRUE(body.ok()) << body.error();
  const Json expected = Json::parse(R"({
    "Image": "ringlb/apod:0.1.0",
    "Cmd": ["--port", "41234", "--listen-address", "127.0.0.1", "--slot=apod-2"],
    "Env": ["PORT=41234", "RINGLB_SLOT=apod-2", "LISTEN_ADDRESS=127.0.0.1", "APOD_DATA=/data", "GREETING=port 41234 of /data, $(PORT) literal"],
    "Labels": {
      "ringlb.dev/ring": "apod",
      "ringlb.dev/slot": "apod-2",
      "ringlb.dev/version": "0.1.0",
      "ringlb.dev/spec-hash": "h123",
      "ringlb.dev/namespace": "default",
      "ringlb.dev/address": "127.0.0.1:41234"
    },
    "HostConfig": {
      "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
      "NetworkMode": "host",
      "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}
    }
  })");
  EXPECT_EQ(body.value(), expected) << body->dump(2);
}

TEST(DockerContainerConfig, CommandBecomesEntrypointAndLimitsAreSet) {
  ReplicaSpec spec = apodSpec();
  spec.templ.command = {"/usr/local/bin/ringlb-apod"};
  spec.templ.memoryBytes = 64U * 1024U * 1024U;
  spec.templ.cpus = 0.5;
  const auto body = dockerContainerCreateBody(spec, DockerRuntimeOptions{}, 40000);
  ASSERT_TRUE(body.ok()) << body.error();
  EXPECT_EQ(body->at("Entrypoint"), Json::parse(R"(["/usr/local/bin/ringlb-apod"])"));
  EXPECT_EQ(body->at("HostConfig").at("Memory"), 67108864);
  EXPECT_EQ(body->at("HostConfig").at("NanoCpus"), 500000000);
}

TEST(DockerContainerConfig, RunAsUserAndGroupBecomeTheContainerUser) {
  ReplicaSpec spec = apodSpec();
  auto body = dockerContainerCreateBody(spec, DockerRuntimeOptions{}, 40000);
  ASSERT_TRUE(body.ok()) << body.error();
  EXPECT_FALSE(body->contains("User")) << "unset: the image's user";
  spec.templ.securityContext.runAsUser = 1000;
  body = dockerContainerCreateBody(spec, DockerRuntimeOptions{}, 40000);
  ASSERT_TRUE(body.ok()) << body.error();
  EXPECT_EQ(body->at("User"), "1000");
  spec.templ.securityContext.runAsGroup = 3000;
  body = dockerContainerCreateBody(spec, DockerRuntimeOptions{}, 40000);
  ASSERT_TRUE(body.ok()) << body.error();
  EXPECT_EQ(body->at("User"), "1000:3000");
}

TEST(DockerContainerConfig, NoArgsLeavesImageCmd) {
  ReplicaSpec spec = apodSpec();
  spec.templ.args.clear();
  const auto body = dockerContainerCreateBody(spec, DockerRuntimeOptions{}, 40000);
  ASSERT_TRUE(body.ok());
  EXPECT_FALSE(body->contains("Cmd"));
  EXPECT_FALSE(body->contains("Entrypoint"));
}

TEST(DockerContainerConfig, ListenAddressIsLoopbackOnTheHostNetworkAndAnyOnAUserNetwork) {
  ReplicaSpec spec = apodSpec();
  spec.templ.port = 8080;
  spec.templ.args = {"--listen-address", "$(LISTEN_ADDRESS)"};
  DockerRuntimeOptions host;
  const auto onHost = dockerContainerCreateBody(spec, host, 41234);
  ASSERT_TRUE(onHost.ok()) << onHost.error();
  EXPECT_EQ(onHost->at("Cmd"), Json::parse(R"(["--listen-address", "127.0.0.1"])"));
  DockerRuntimeOptions bridged;
  bridged.network = "ringlb-test";
  const auto onNetwork = dockerContainerCreateBody(spec, bridged, 0);
  ASSERT_TRUE(onNetwork.ok()) << onNetwork.error();
  EXPECT_EQ(onNetwork->at("Cmd"), Json::parse(R"(["--listen-address", "0.0.0.0"])"));
}

TEST(DockerContainerConfig, RuntimeOwnsPortAndSlotEnv) {
  ReplicaSpec spec = apodSpec();
  spec.templ.env.push_back({"PORT", "1"});
  spec.templ.env.push_back({"RINGLB_SLOT", "wrong"});
  const auto body = dockerContainerCreateBody(spec, DockerRuntimeOptions{}, 40001);
  ASSERT_TRUE(body.ok());
  int ports = 0;
  for (const auto& e : body->at("Env")) {
    const auto text = e.get<std::string>();
    if (text.starts_with("PORT=")) {
      ++ports;
      EXPECT_EQ(text, "PORT=40001");
    }
    EXPECT_NE(text, "RINGLB_SLOT=wrong");
  }
  EXPECT_EQ(ports, 1);
}

TEST(DockerContainerConfig, UserNetworkUsesContainerNameAndTemplatePort) {
  DockerRuntimeOptions options;
  options.network = "ringlb";
  ReplicaSpec spec = apodSpec();
  spec.templ.port = 8080;
  const auto body = dockerContainerCreateBody(spec, options, 0);
  ASSERT_TRUE(body.ok()) << body.error();
  EXPECT_EQ(body->at("HostConfig").at("NetworkMode"), "ringlb");
  EXPECT_EQ(body->at("Labels").at("ringlb.dev/address"), "ringlb-apod-2:8080");
  EXPECT_EQ(body->at("Cmd")[1], "8080");
  EXPECT_EQ(body->at("Env")[0], "PORT=8080");
  EXPECT_EQ(body->at("NetworkingConfig"), Json::parse(R"({"EndpointsConfig":{"ringlb":{"Aliases":["apod-2"]}}})"));
  EXPECT_EQ(body->at("ExposedPorts"), Json::parse(R"({"8080/tcp":{}})"));
  EXPECT_EQ(dockerReplicaAddress(spec, options, 0), "ringlb-apod-2:8080");
}

TEST(DockerContainerConfig, RejectsBadSpecsNamingTheField) {
  struct Case {
    const char* what;
    void (*mutate)(ReplicaSpec&);
    const char* expect;
  };
  const Case cases[] = {
      {"no image", [](ReplicaSpec& s) { s.templ.image.clear(); }, "spec.template.image is empty"},
      {"tiny memory", [](ReplicaSpec& s) { s.templ.memoryBytes = 1024; }, "spec.template.resources.limits.memory 1024 bytes"},
      {"zero cpus", [](ReplicaSpec& s) { s.templ.cpus = 0.0; }, "spec.template.resources.limits.cpu must be a positive number"},
      {"bad env", [](ReplicaSpec& s) { s.templ.env.push_back({"A=B", "x"}); }, "spec.template.env has an invalid name 'A=B'"},
      {"bad name", [](ReplicaSpec& s) { s.slot = "apod/0"; }, "which Docker rejects"},
  };
  for (const auto& c : cases) {
    ReplicaSpec spec = apodSpec();
    c.mutate(spec);
    const auto body = dockerContainerCreateBody(spec, DockerRuntimeOptions{}, 40000);
    ASSERT_FALSE(body.ok()) << c.what;
    EXPECT_TRUE(body.error().starts_with("InvalidSpec: HashRing default/apod")) << body.error();
    EXPECT_NE(body.error().find(c.expect), std::string::npos) << c.what << ": " << body.error();
  }
}

TEST(DockerContainerConfig, HostNetworkNeedsAPort) {
  const auto body = dockerContainerCreateBody(apodSpec(), DockerRuntimeOptions{}, 0);
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.error().find("no host port"), std::string::npos);
}

TEST(ExpandVariables, KubernetesRules) {
  const std::map<std::string, std::string> vars{{"PORT", "8080"}, {"A", "x"}};
  EXPECT_EQ(expandVariables("$(PORT)", vars), "8080");
  EXPECT_EQ(expandVariables("--port=$(PORT)/$(A)", vars), "--port=8080/x");
  EXPECT_EQ(expandVariables("$$(PORT)", vars), "$(PORT)");
  EXPECT_EQ(expandVariables("$(UNKNOWN) $(PORT", vars), "$(UNKNOWN) $(PORT");
  EXPECT_EQ(expandVariables("cost $5 $", vars), "cost $5 $");
  EXPECT_EQ(expandVariables("", vars), "");
}

}  // namespace
}  // namespace ringlb::op
