#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "ringlb/base/logging.h"

namespace ringlb::op {

/// The operator's command line, parsed.
struct OperatorOptions {
  std::string resources;                  // --resources: a YAML file or a directory
  std::string runtime = "process";        // --runtime
  std::string dockerHost;                 // --docker-host
  std::string dockerNetwork;              // --docker-network
  std::chrono::milliseconds dockerTimeout{30000};  // --docker-timeout
  std::string listen = ":8081";           // --listen
  std::filesystem::path stateDir = "ringlb-state";  // --state-dir
  bool leaveRunning = false;              // --leave-running
  std::chrono::seconds resync{10};        // --resync-seconds
  std::chrono::seconds stopGrace{10};     // --stop-grace-seconds
  std::chrono::milliseconds pollInterval{250};  // --poll-ms (resource files)
  unsigned workers = 2;                   // --workers
  LogLevel logLevel = LogLevel::Info;     // --log-level
  LogFormat logFormat = LogFormat::Text;  // --log-format
  std::string prometheusUrl;              // --prometheus-url: the status page's traffic figures come from it
  std::string prometheusWindow = "1m";    // --prometheus-window: their rate() window
  std::vector<std::string> proxyAdminUrls;  // --proxy-admin-url: linked from the status page

  // Kubernetes (--source kubernetes, implied by --runtime kubernetes)
  std::string source = "auto";            // --source: file, kubernetes, or auto
  std::string kubeconfig;                 // --kubeconfig (else in-cluster, $KUBECONFIG, ~/.kube/config)
  std::string kubeContext;                // --context
  double kubeApiQps = 20.0;               // --kube-api-qps: client-side rate limit (controller-runtime's default)
  int kubeApiBurst = 30;                  // --kube-api-burst
  std::vector<std::string> watchNamespaces;  // --watch-namespaces: HashRings and Pods of these namespaces (empty: all)
  bool leaderElect = true;                // --leader-elect
  std::string leaseNamespace;             // --leader-election-namespace (default: the config's namespace)
  std::string leaseName = "ringlb-operator";  // --leader-election-lease
  std::string identity;                   // --leader-election-id (default: $POD_NAME or hostname, plus a random suffix)
  std::chrono::milliseconds leaseDuration{15000};  // --leader-election-lease-duration
  std::chrono::milliseconds renewDeadline{10000};  // --leader-election-renew-deadline
  std::chrono::milliseconds retryPeriod{2000};     // --leader-election-retry-period
};

/// Wires the operator together (runtime, resource source, ring registry, HTTP
/// API, heartbeats, controller), runs it until SIGTERM or SIGINT, then shuts
/// down (stopping replicas unless leaveRunning). Returns the exit code.
int runOperator(const OperatorOptions& options);

}  // namespace ringlb::op
