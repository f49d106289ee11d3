// ringlb-operator: reconciles HashRing resources into replicas and publishes their rings.
#include <CLI/CLI.hpp>

#include "ringlb/operator/operator_app.h"

int main(int argc, char** argv) {
  ringlb::op::OperatorOptions options;
  CLI::App app{"ringlb-operator: runs one replica per HashRing slot, checks their heartbeats, replaces failed ones and "
               "publishes the ring that proxies route by."};
  unsigned resync = 10;
  unsigned stopGrace = 10;
  unsigned pollMs = 250;
  std::string logFormat = "text";
  app.add_option("--resources", options.resources,
                 "HashRing YAML file, or a directory of *.yaml files, watched for changes (required unless HashRings "
                 "come from Kubernetes)");
  app.add_option("--source", options.source,
                 "Where HashRings come from: file (--resources), kubernetes (custom resources), or auto (kubernetes "
                 "with --runtime kubernetes, else file)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "file", "kubernetes"}));
  app.add_option("--kubeconfig", options.kubeconfig,
                 "kubeconfig file (default: in-cluster service account, else $KUBECONFIG, else ~/.kube/config)");
  app.add_option("--context", options.kubeContext, "kubeconfig context (default: its current-context)");
  app.add_option("--namespace", options.watchNamespace, "Watch HashRings and Pods of this namespace only (default: all)");
  app.add_option("--leader-elect", options.leaderElect,
                 "Elect one leader through a coordination.k8s.io Lease; the others serve the ring API from the "
                 "HashRings' status")
      ->capture_default_str();
  app.add_option("--leader-election-namespace", options.leaseNamespace,
                 "Namespace of the Lease (default: the service account's or kubeconfig context's namespace)");
  app.add_option("--leader-election-lease", options.leaseName, "Name of the Lease")->capture_default_str();
  app.add_option("--leader-election-id", options.identity,
                 "This replica's identity in the Lease (default: $POD_NAME or the hostname, plus a random suffix)");
  double leaseSeconds = 15;
  double renewSeconds = 10;
  double retrySeconds = 2;
  app.add_option("--leader-election-lease-duration", leaseSeconds,
                 "Seconds a standby waits, from when it last saw the Lease change, before taking over")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--leader-election-renew-deadline", renewSeconds,
                 "Seconds the leader keeps trying to renew before it stops leading")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--leader-election-retry-period", retrySeconds, "Seconds between Lease attempts")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  app.add_option("--runtime", options.runtime, "Where replicas run: process (local processes), docker or kubernetes")
      ->capture_default_str();
  app.add_option("--listen", options.listen, "Ring API, status page and /metrics listener, ADDR:PORT (':PORT' = all interfaces)")
      ->capture_default_str();
  app.add_option("--state-dir", options.stateDir,
                 "Directory for ring versions, replica state (pid, start time) and replica logs; "
                 "keeps versions increasing and lets a restarted operator adopt its replicas")
      ->capture_default_str();
  app.add_flag("--leave-running", options.leaveRunning, "On SIGTERM/SIGINT leave the replicas running (to be adopted later)");
  app.add_option("--resync-seconds", resync, "Re-list the runtime and reconcile every ring this often")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--stop-grace-seconds", stopGrace, "SIGTERM-to-SIGKILL grace when stopping a replica")
      ->capture_default_str()
      ->check(CLI::Range(0, 600));
  app.add_option("--poll-ms", pollMs, "How often resource files are checked for changes")
      ->capture_default_str()
      ->check(CLI::Range(20, 60000));
  app.add_option("--workers", options.workers, "Rings reconciled in parallel")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--log-level", options.logLevel, "trace, debug, info, warn, error, critical")->capture_default_str();
  app.add_option("--log-format", logFormat, "text or json (one JSON object per line)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);
  options.resync = std::chrono::seconds(resync);
  options.stopGrace = std::chrono::seconds(stopGrace);
  options.pollInterval = std::chrono::milliseconds(pollMs);
  options.logJson = logFormat == "json";
  const auto millis = [](double seconds) { return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000)); };
  options.leaseDuration = millis(leaseSeconds);
  options.renewDeadline = millis(renewSeconds);
  options.retryPeriod = millis(retrySeconds);
  if (!ringlb::op::configureLogging(options.logLevel, options.logJson)) {
    std::fprintf(stderr, "--log-level: unknown level '%s'\n", options.logLevel.c_str());
    return 2;
  }
  return ringlb::op::runOperator(options);
}
