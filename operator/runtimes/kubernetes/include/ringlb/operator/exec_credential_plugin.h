#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"
#include "ringlb/operator/kubernetes_config.h"

namespace ringlb::op {

/// What an exec credential plugin printed: a bearer token and/or a client
/// certificate (PEM), valid until `expiration` (forever when unset).
struct ExecCredential {
  std::string token;
  std::string clientCertificateData;
  std::string clientKeyData;
  std::optional<std::chrono::system_clock::time_point> expiration;
};

/// Parses a plugin's stdout: an ExecCredential of `apiVersion` with a status
/// holding a token or a certificate and key. Returns an Invalid Error naming
/// the field (e.g. "status.expirationTimestamp") when it is not one.
Result<ExecCredential> parseExecCredential(std::string_view output, std::string_view apiVersion);

/// Runs a kubeconfig exec plugin (client.authentication.k8s.io/v1 or v1beta1)
/// as kubectl does: command and args, the operator's environment plus the
/// plugin's env, KUBERNETES_EXEC_INFO describing the request, stdin closed (the
/// operator never has a terminal). Thread-safe; each run() starts the process.
class ExecCredentialPlugin {
 public:
  /// `config` supplies the plugin and, with provideClusterInfo, the cluster
  /// passed to it in KUBERNETES_EXEC_INFO.
  ExecCredentialPlugin(const KubernetesConfig& config, std::chrono::milliseconds timeout);

  /// Runs the plugin and parses what it printed. Returns an Unavailable Error
  /// naming the plugin when it cannot start, times out or exits non-zero (with
  /// its stderr and the installHint), an Invalid one when its output is not an
  /// ExecCredential. Blocks for at most the timeout.
  Result<ExecCredential> run() const;

  /// The plugin's command, for messages.
  const std::string& command() const noexcept { return plugin_.command; }

 private:
  ExecPluginConfig plugin_;
  std::string execInfo_;  // KUBERNETES_EXEC_INFO
  std::chrono::milliseconds timeout_;
};

}  // namespace ringlb::op
