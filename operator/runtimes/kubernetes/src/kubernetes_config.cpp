#include "ringlb/operator/kubernetes_config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ringlb::op {

namespace {

bool isIpv6(const std::string& host) { return host.find(':') != std::string::npos; }

std::string resolveRelative(const std::string& file, const std::string& kubeconfigPath) {
  if (file.empty() || std::filesystem::path(file).is_absolute()) return file;
  return (std::filesystem::path(kubeconfigPath).parent_path() / file).lexically_normal().string();
}

// Finds the entry named `name` in a kubeconfig list (clusters, users, contexts).
// Returns its index, or -1.
int findNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return -1;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& entry = list[i];
    if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() && entry["name"].as<std::string>() == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::string scalar(const YAML::Node& node, const char* key) {
  const YAML::Node value = node[key];
  if (!value || !value.IsScalar()) return {};
  return value.as<std::string>();
}

constexpr std::string_view kExecV1 = "client.authentication.k8s.io/v1";
constexpr std::string_view kExecV1beta1 = "client.authentication.k8s.io/v1beta1";

// Reads `users[i].user.exec` (`field`) as client-go does: apiVersion and
// command are required; v1 also requires interactiveMode.
Result<ExecPluginConfig> parseExecPlugin(const YAML::Node& node, const std::string& field, const std::string& kubeconfigPath) {
  if (!node.IsMap()) return Error{field + ": must be a mapping"};
  ExecPluginConfig exec;
  exec.apiVersion = scalar(node, "apiVersion");
  if (exec.apiVersion != kExecV1 && exec.apiVersion != kExecV1beta1) {
    return Error{field + ".apiVersion: '" + exec.apiVersion + "' is not supported (use " + std::string(kExecV1) +
                 " or " + std::string(kExecV1beta1) + ")"};
  }
  exec.command = scalar(node, "command");
  if (exec.command.empty()) return Error{field + ".command: missing"};
  // client-go: a command with a path separator is relative to the kubeconfig; a bare name goes through $PATH.
  if (exec.command.find('/') != std::string::npos) exec.command = resolveRelative(exec.command, kubeconfigPath);
  if (const YAML::Node args = node["args"]) {
    if (!args.IsSequence()) return Error{field + ".args: must be a list of strings"};
    for (const auto& arg : args) exec.args.push_back(arg.as<std::string>());
  }
  if (const YAML::Node env = node["env"]) {
    if (!env.IsSequence()) return Error{field + ".env: must be a list of {name, value}"};
    for (std::size_t i = 0; i < env.size(); ++i) {
      const std::string name = scalar(env[i], "name");
      if (name.empty()) return Error{field + ".env[" + std::to_string(i) + "].name: missing"};
      exec.env.emplace_back(name, scalar(env[i], "value"));
    }
  }
  exec.installHint = scalar(node, "installHint");
  if (node["provideClusterInfo"]) exec.provideClusterInfo = node["provideClusterInfo"].as<bool>();
  exec.interactiveMode = scalar(node, "interactiveMode");
  if (exec.interactiveMode.empty()) {
    if (exec.apiVersion == kExecV1) return Error{field + ".interactiveMode: required for " + std::string(kExecV1)};
    exec.interactiveMode = "IfAvailable";
  }
  if (exec.interactiveMode == "Always") {
    return Error{field + ".interactiveMode: Always needs a terminal, and the operator runs without one (use Never)"};
  }
  if (exec.interactiveMode != "Never" && exec.interactiveMode != "IfAvailable") {
    return Error{field + ".interactiveMode: '" + exec.interactiveMode + "' is not one of Never, IfAvailable, Always"};
  }
  return exec;
}

}  // namespace

std::string KubernetesConfig::authority() const {
  std::string hostPart = isIpv6(host) ? "[" + host + "]" : host;
  return hostPart + ":" + std::to_string(port);
}

std::string KubernetesConfig::baseUrl() const {
  return std::string(tls ? "https://" : "http://") + authority() + pathPrefix;
}

EnvLookup processEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<std::string> decodeBase64(std::string_view text) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::array<int, 256> table{};
  table.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);

  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t accumulator = 0;
  int bits = 0;
  bool padding = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const int value = table[static_cast<unsigned char>(c)];
    if (value < 0 || padding) {
      return Error{"invalid base64 character at offset " + std::to_string(i)};
    }
    accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((accumulator >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return Error{"truncated base64 input"};
  return out;
}

Status parseServerUrl(std::string_view url, KubernetesConfig& config) {
  const std::string original(url);
  auto fail = [&](const std::string& why) -> Status { return Error{"server URL '" + original + "': " + why}; };
  if (url.starts_with("https://")) {
    config.tls = true;
    config.port = 443;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    config.tls = false;
    config.port = 80;
    url.remove_prefix(7);
  } else {
    return fail("must start with https:// or http://");
  }
  const std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string prefix = slash == std::string_view::npos ? std::string() : std::string(url.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  config.pathPrefix = prefix;
  if (authority.empty()) return fail("has no host");

  std::string_view portText;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unterminated '[' in IPv6 host");
    config.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail("unexpected text after IPv6 host");
      portText = rest.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      config.host = std::string(authority.substr(0, colon));
      portText = authority.substr(colon + 1);
    } else {
      config.host = std::string(authority);
    }
  }
  if (config.host.empty()) return fail("has no host");
  if (!portText.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), value);
    if (ec != std::errc() || end != portText.data() + portText.size() || value == 0 || value > 65535) {
      return fail("invalid port '" + std::string(portText) + "'");
    }
    config.port = static_cast<std::uint16_t>(value);
  }
  return ok();
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::unavailable(path + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Result<KubernetesConfig> inClusterConfig(const EnvLookup& env, const std::string& serviceAccountDir) {
  const auto host = env("KUBERNETES_SERVICE_HOST");
  const auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty()) return Error{"in-cluster config: KUBERNETES_SERVICE_HOST is not set"};
  if (!port || port->empty()) return Error{"in-cluster config: KUBERNETES_SERVICE_PORT is not set"};
  KubernetesConfig config;
  const std::string hostPart = isIpv6(*host) ? "[" + *host + "]" : *host;
  if (auto parsed = parseServerUrl("https://" + hostPart + ":" + *port, config); !parsed) {
    return Error{"in-cluster config: " + parsed.error()};
  }
  config.caFile = serviceAccountDir + "/ca.crt";
  config.tokenFile = serviceAccountDir + "/token";
  if (!readFile(config.tokenFile)) return Error{"in-cluster config: cannot read token file " + config.tokenFile};
  if (!std::filesystem::exists(config.caFile)) return Error{"in-cluster config: CA file " + config.caFile + " does not exist"};
  if (auto read = readFile(serviceAccountDir + "/namespace")) {
    std::string ns = std::move(read).value();
    while (!ns.empty() && (ns.back() == '\n' || ns.back() == ' ')) ns.pop_back();
    if (!ns.empty()) config.defaultNamespace = ns;
  }
  config.origin = "in-cluster";
  return config;
}

Result<KubernetesConfig> parseKubeconfig(std::string_view yamlText, const std::string& path, const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yamlText));
  } catch (const YAML::Exception& e) {
    return Error{"kubeconfig " + path + ": invalid YAML: " + e.what()};
  }
  auto fail = [&](const std::string& why) -> Result<KubernetesConfig> { return Error{"kubeconfig " + path + ": " + why}; };
  if (!root.IsMap()) return fail("not a YAML mapping");

  try {
    std::string contextName = context.empty() ? scalar(root, "current-context") : context;
    if (contextName.empty()) return fail("current-context is not set (and no context was given)");
    const int contextIndex = findNamed(root["contexts"], contextName);
    if (contextIndex < 0) return fail("contexts: no context named '" + contextName + "'");
    const YAML::Node contextNode = root["contexts"][contextIndex]["context"];
    const std::string contextField = "contexts[" + std::to_string(contextIndex) + "].context";
    if (!contextNode || !contextNode.IsMap()) return fail(contextField + ": missing");

    KubernetesConfig config;
    config.origin = "kubeconfig " + path + " context " + contextName;
    if (const std::string ns = scalar(contextNode, "namespace"); !ns.empty()) config.defaultNamespace = ns;

    const std::string clusterName = scalar(contextNode, "cluster");
    if (clusterName.empty()) return fail(contextField + ".cluster: missing");
    const int clusterIndex = findNamed(root["clusters"], clusterName);
    if (clusterIndex < 0) return fail("clusters: no cluster named '" + clusterName + "'");
    const std::string clusterField = "clusters[" + std::to_string(clusterIndex) + "].cluster";
    const YAML::Node cluster = root["clusters"][clusterIndex]["cluster"];
    if (!cluster || !cluster.IsMap()) return fail(clusterField + ": missing");

    const std::string server = scalar(cluster, "server");
    if (server.empty()) return fail(clusterField + ".server: missing");
    if (auto parsed = parseServerUrl(server, config); !parsed) return fail(clusterField + ".server: " + parsed.error());
    config.caFile = resolveRelative(scalar(cluster, "certificate-authority"), path);
    if (const std::string data = scalar(cluster, "certificate-authority-data"); !data.empty()) {
      auto decoded = decodeBase64(data);
      if (!decoded) return fail(clusterField + ".certificate-authority-data: " + decoded.error());
      config.caData = std::move(decoded).value();
    }
    if (cluster["insecure-skip-tls-verify"]) config.insecureSkipTlsVerify = cluster["insecure-skip-tls-verify"].as<bool>();
    if (cluster["proxy-url"]) return fail(clusterField + ".proxy-url: proxies are not supported");

    const std::string userName = scalar(contextNode, "user");
    if (!userName.empty()) {
      const int userIndex = findNamed(root["users"], userName);
      if (userIndex < 0) return fail("users: no user named '" + userName + "'");
      const std::string userField = "users[" + std::to_string(userIndex) + "].user";
      const YAML::Node user = root["users"][userIndex]["user"];
      if (user && user.IsMap()) {
        if (const YAML::Node exec = user["exec"]) {
          auto plugin = parseExecPlugin(exec, userField + ".exec", path);
          if (!plugin) return fail(plugin.error());
          config.exec = std::move(plugin).value();
        }
        if (user["auth-provider"]) return fail(userField + ".auth-provider: auth providers are not supported; use a token or client certificate");
        if (user["username"] || user["password"]) return fail(userField + ".username: basic authentication is not supported");
        config.token = scalar(user, "token");
        config.tokenFile = resolveRelative(scalar(user, "tokenFile"), path);
        config.clientCertFile = resolveRelative(scalar(user, "client-certificate"), path);
        config.clientKeyFile = resolveRelative(scalar(user, "client-key"), path);
        if (const std::string data = scalar(user, "client-certificate-data"); !data.empty()) {
          auto decoded = decodeBase64(data);
          if (!decoded) return fail(userField + ".client-certificate-data: " + decoded.error());
          config.clientCertData = std::move(decoded).value();
        }
        if (const std::string data = scalar(user, "client-key-data"); !data.empty()) {
          auto decoded = decodeBase64(data);
          if (!decoded) return fail(userField + ".client-key-data: " + decoded.error());
          config.clientKeyData = std::move(decoded).value();
        }
        const bool hasCert = !config.clientCertFile.empty() || !config.clientCertData.empty();
        const bool hasKey = !config.clientKeyFile.empty() || !config.clientKeyData.empty();
        if (hasCert != hasKey) {
          return fail(userField + (hasCert ? ".client-key" : ".client-certificate") +
                      ": a client certificate needs both a certificate and a key");
        }
      }
    }
    return config;
  } catch (const YAML::Exception& e) {
    return fail(std::string("unexpected structure: ") + e.what());
  }
}

Result<KubernetesConfig> loadKubeconfig(const std::string& path, const std::string& context) {
  const auto text = readFile(path);
  if (!text) return Error{"kubeconfig " + path + ": cannot read file"};
  return parseKubeconfig(text.value(), path, context);
}

Result<KubernetesConfig> resolveKubernetesConfig(const std::string& explicitKubeconfig, const std::string& context,
                                                 const EnvLookup& env) {
  if (!explicitKubeconfig.empty()) return loadKubeconfig(explicitKubeconfig, context);
  if (const auto host = env("KUBERNETES_SERVICE_HOST"); host && !host->empty()) return inClusterConfig(env);
  if (const auto list = env("KUBECONFIG"); list && !list->empty()) {
    std::size_t start = 0;
    while (start <= list->size()) {
      const std::size_t end = std::min(list->find(':', start), list->size());
      const std::string candidate = list->substr(start, end - start);
      if (!candidate.empty() && std::filesystem::exists(candidate)) return loadKubeconfig(candidate, context);
      start = end + 1;
    }
    return Error{"KUBECONFIG=" + *list + ": none of its files exists"};
  }
  if (const auto home = env("HOME"); home && !home->empty()) {
    const std::string path = *home + "/.kube/config";
    if (std::filesystem::exists(path)) return loadKubeconfig(path, context);
  }
  return Error{"no Kubernetes configuration: not in a cluster (KUBERNETES_SERVICE_HOST unset), KUBECONFIG unset and ~/.kube/config missing"};
}

}  // namespace ringlb::op
