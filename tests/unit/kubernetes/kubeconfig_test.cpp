#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/operator/kubernetes_config.h"

namespace ringlb::op {
namespace {

// "-----BEGIN CERTIFICATE-----\nCA\n" in base64.
constexpr const char* kCaBase64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==";

const std::string kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
- name: local
  cluster:
    server: https://[fd00::1]:8443/prefix/
    certificate-authority-data: )" + std::string(kCaBase64) + R"(
contexts:
- name: other
  context: {cluster: prod, user: exec-user}
- name: dev
  context:
    cluster: local
    user: dev-user
    namespace: team-a
users:
- name: exec-user
  user:
    exec: {command: aws}
- name: dev-user
  user:
    token: abc.def
    client-certificate: certs/client.crt
    client-key-data: a2V5
)";

TEST(Kubeconfig, CurrentContextSelectsClusterUserAndNamespace) {
  auto config = parseKubeconfig(kKubeconfig, "/home/me/.kube/config");
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_TRUE(config->tls);
  EXPECT_EQ(config->host, "fd00::1");
  EXPECT_EQ(config->port, 8443);
  EXPECT_EQ(config->pathPrefix, "/prefix");
  EXPECT_EQ(config->authority(), "[fd00::1]:8443");
  EXPECT_EQ(config->baseUrl(), "https://[fd00::1]:8443/prefix");
  EXPECT_EQ(config->caData, "-----BEGIN CERTIFICATE-----\nCA\n");
  EXPECT_EQ(config->token, "abc.def");
  EXPECT_EQ(config->clientCertFile, "/home/me/.kube/certs/client.crt");
  EXPECT_EQ(config->clientKeyData, "key");
  EXPECT_EQ(config->defaultNamespace, "team-a");
  EXPECT_FALSE(config->insecureSkipTlsVerify);
}

TEST(Kubeconfig, ExecPluginWithoutApiVersionNamesTheField) {
  auto config = parseKubeconfig(kKubeconfig, "/k", "other");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().find("users[0].user.exec.apiVersion"), std::string::npos) << config.error();
  EXPECT_NE(config.error().find("/k"), std::string::npos);
}

std::string withExec(const std::string& exec) {
  return "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
         "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:6443'}\n"
         "users:\n- name: u\n  user:\n    exec: " + exec + "\n";
}

TEST(Kubeconfig, ExecPluginIsReadAsClientGoReadsIt) {
  auto config = parseKubeconfig(
      withExec("{apiVersion: client.authentication.k8s.io/v1, command: ./bin/get-token, args: [--audience, api], "
               "env: [{name: REGION, value: eu}], interactiveMode: Never, provideClusterInfo: true, installHint: ask ops}"),
      "/home/me/.kube/config");
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_EQ(config->exec.apiVersion, "client.authentication.k8s.io/v1");
  EXPECT_EQ(config->exec.command, "/home/me/.kube/bin/get-token");  // relative to the kubeconfig
  EXPECT_EQ(config->exec.args, (std::vector<std::string>{"--audience", "api"}));
  ASSERT_EQ(config->exec.env.size(), 1u);
  EXPECT_EQ(config->exec.env[0], (std::pair<std::string, std::string>{"REGION", "eu"}));
  EXPECT_TRUE(config->exec.provideClusterInfo);
  EXPECT_EQ(config->exec.installHint, "ask ops");

  auto bare = parseKubeconfig(withExec("{apiVersion: client.authentication.k8s.io/v1beta1, command: aws}"), "/k");
  ASSERT_TRUE(bare.ok()) << bare.error();
  EXPECT_EQ(bare->exec.command, "aws");  // looked up in $PATH
  EXPECT_EQ(bare->exec.interactiveMode, "IfAvailable");  // v1beta1's default
}

TEST(Kubeconfig, BadExecPluginFieldsAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"{apiVersion: client.authentication.k8s.io/v1alpha1, command: x, interactiveMode: Never}",
       "users[0].user.exec.apiVersion: 'client.authentication.k8s.io/v1alpha1' is not supported"},
      {"{apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}", "users[0].user.exec.command: missing"},
      {"{apiVersion: client.authentication.k8s.io/v1, command: x}", "users[0].user.exec.interactiveMode: required"},
      {"{apiVersion: client.authentication.k8s.io/v1, command: x, interactiveMode: Always}",
       "users[0].user.exec.interactiveMode: Always needs a terminal"},
      {"{apiVersion: client.authentication.k8s.io/v1, command: x, interactiveMode: Never, env: [{value: v}]}",
       "users[0].user.exec.env[0].name: missing"},
  };
  for (const auto& [exec, expected] : cases) {
    auto config = parseKubeconfig(withExec(exec), "/k");
    ASSERT_FALSE(config.ok()) << exec;
    EXPECT_NE(config.error().find(expected), std::string::npos) << config.error();
  }
}

TEST(Kubeconfig, MissingPiecesAreNamed) {
  EXPECT_NE(parseKubeconfig("clusters: []\n", "/k").error().find("current-context"), std::string::npos);
  EXPECT_NE(parseKubeconfig(kKubeconfig, "/k", "nope").error().find("no context named 'nope'"), std::string::npos);
  EXPECT_NE(parseKubeconfig("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n", "/k")
                .error()
                .find("no cluster named 'c'"),
            std::string::npos);
  EXPECT_NE(parseKubeconfig("a: [b\n", "/k").error().find("invalid YAML"), std::string::npos);
  const std::string noKey = R"(current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "https://h"}}]
users: [{name: u, user: {client-certificate-data: YQ==}}]
)";
  EXPECT_NE(parseKubeconfig(noKey, "/k").error().find("users[0].user.client-key"), std::string::npos);
  const std::string badServer = R"(current-context: x
contexts: [{name: x, context: {cluster: c}}]
clusters: [{name: c, cluster: {server: "ftp://h"}}]
)";
  EXPECT_NE(parseKubeconfig(badServer, "/k").error().find("clusters[0].cluster.server"), std::string::npos);
}

TEST(Kubeconfig, PlainHttpInsecureAndTokenFile) {
  const std::string text = R"(current-context: fake
contexts: [{name: fake, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "http://127.0.0.1:18080", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {tokenFile: token}}]
)";
  auto config = parseKubeconfig(text, "/tmp/x/kubeconfig");
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_FALSE(config->tls);
  EXPECT_EQ(config->port, 18080);
  EXPECT_EQ(config->baseUrl(), "http://127.0.0.1:18080");
  EXPECT_TRUE(config->insecureSkipTlsVerify);
  EXPECT_EQ(config->tokenFile, "/tmp/x/token");
  EXPECT_EQ(config->defaultNamespace, "default");
}

TEST(ServerUrl, DefaultsAndErrors) {
  KubernetesConfig config;
  ASSERT_TRUE(parseServerUrl("https://api.example", config).ok());
  EXPECT_EQ(config.port, 443);
  EXPECT_EQ(config.authority(), "api.example:443");
  ASSERT_TRUE(parseServerUrl("http://[::1]", config).ok());
  EXPECT_EQ(config.port, 80);
  EXPECT_EQ(config.host, "::1");
  EXPECT_FALSE(parseServerUrl("https://h:99999", config).ok());
  EXPECT_FALSE(parseServerUrl("https://[::1", config).ok());
  EXPECT_FALSE(parseServerUrl("https://:80", config).ok());
}

TEST(InClusterConfig, UsesServiceEnvironmentAndServiceAccountFiles) {
  const auto dir = std::filesystem::temp_directory_path() / ("ringlb-sa-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "tok\n";
  std::ofstream(dir / "ca.crt") << "pem";
  std::ofstream(dir / "namespace") << "ringlb-system";
  std::map<std::string, std::string> vars{{"KUBERNETES_SERVICE_HOST", "fd00::10"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  auto config = inClusterConfig(env, dir.string());
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_EQ(config->baseUrl(), "https://[fd00::10]:443");
  EXPECT_EQ(config->tokenFile, (dir / "token").string());
  EXPECT_EQ(config->caFile, (dir / "ca.crt").string());
  EXPECT_EQ(config->defaultNamespace, "ringlb-system");

  vars.erase("KUBERNETES_SERVICE_PORT");
  auto missing = inClusterConfig(env, dir.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("KUBERNETES_SERVICE_PORT"), std::string::npos);

  vars["KUBERNETES_SERVICE_PORT"] = "443";
  std::filesystem::remove(dir / "token");
  auto noToken = inClusterConfig(env, dir.string());
  ASSERT_FALSE(noToken.ok());
  EXPECT_NE(noToken.error().find("token"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Base64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(decodeBase64("aGVsbG8=").value(), "hello");
  EXPECT_EQ(decodeBase64("aGVsbG8").value(), "hello");
  EXPECT_EQ(decodeBase64("aGVs\nbG8=").value(), "hello");
  EXPECT_FALSE(decodeBase64("a$==").ok());
  EXPECT_FALSE(decodeBase64("a").ok());
}

}  // namespace
}  // namespace ringlb::op
