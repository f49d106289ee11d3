#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringlb/base/result.h"

namespace ringlb::op {

inline constexpr std::string_view kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A kubeconfig `users[].user.exec` entry: a credential plugin that prints an
/// ExecCredential (client.authentication.k8s.io/v1 or v1beta1) on stdout.
struct ExecPluginConfig {
  std::string apiVersion;   // client.authentication.k8s.io/v1 or /v1beta1
  std::string command;      // a bare name is looked up in $PATH; a path is relative to the kubeconfig
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the operator's environment
  std::string installHint;  // shown when the command cannot be run
  bool provideClusterInfo = false;
  std::string interactiveMode = "Never";  // Never | IfAvailable (the operator never has a terminal)

  bool configured() const noexcept { return !command.empty(); }
};

/// Where and how to reach the Kubernetes API server: the in-cluster service
/// account or one kubeconfig context. PEM material is either a file path or
/// the decoded data itself.
struct KubernetesConfig {
  bool tls = true;           // https (false: plain http, e.g. a test's fake server)
  std::string host;          // without brackets, even for IPv6
  std::uint16_t port = 443;
  std::string pathPrefix;    // a server URL may carry a path ("https://h/k8s"); no trailing '/'

  std::string caFile;        // PEM bundle that signs the server's certificate
  std::string caData;
  bool insecureSkipTlsVerify = false;

  std::string token;         // static bearer token
  std::string tokenFile;     // re-read periodically (bound service-account tokens expire)

  std::string clientCertFile;
  std::string clientCertData;
  std::string clientKeyFile;
  std::string clientKeyData;

  ExecPluginConfig exec;     // credentials from a plugin (token and/or client certificate)

  std::string defaultNamespace = "default";
  std::string origin;  // "in-cluster" or "kubeconfig <path> context <name>", for messages

  /// "host:port", with brackets around an IPv6 host: the Host header and the
  /// authority of the base URL.
  std::string authority() const;

  /// "https://host:port[/prefix]".
  std::string baseUrl() const;
};

/// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment.
EnvLookup processEnvironment();

/// In-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT,
/// CA and token (a file, re-read by the client) under `serviceAccountDir`.
/// Returns an Error naming the missing variable or file.
Result<KubernetesConfig> inClusterConfig(const EnvLookup& env, const std::string& serviceAccountDir = std::string(kServiceAccountDir));

/// Parses kubeconfig YAML text. `path` names the file in messages and anchors
/// relative paths; `context` overrides current-context when not empty.
/// Returns an Error naming the field (e.g. "users[0].user.exec.apiVersion")
/// when the context cannot be used.
Result<KubernetesConfig> parseKubeconfig(std::string_view yamlText, const std::string& path, const std::string& context = {});

/// Reads and parses the kubeconfig file at `path`.
Result<KubernetesConfig> loadKubeconfig(const std::string& path, const std::string& context = {});

/// Chooses the configuration the way client-go does: an explicit kubeconfig
/// path, else in-cluster when KUBERNETES_SERVICE_HOST is set, else the first
/// existing file of $KUBECONFIG (colon-separated), else ~/.kube/config.
Result<KubernetesConfig> resolveKubernetesConfig(const std::string& explicitKubeconfig, const std::string& context, const EnvLookup& env);

/// Parses "https://host:port/prefix" (IPv6 hosts in brackets) into `config`'s
/// tls/host/port/pathPrefix. Returns an Error naming the URL.
Status parseServerUrl(std::string_view url, KubernetesConfig& config);

/// Decodes standard base64 (padding optional, whitespace ignored).
Result<std::string> decodeBase64(std::string_view text);

/// Reads a whole file (a token, a CA bundle, a kubeconfig); an Unavailable
/// Error naming the path when it cannot be opened. Tokens are re-read often,
/// so this stays cheap.
Result<std::string> readFile(const std::string& path);

}  // namespace ringlb::op
