// ringlb-operator: reconciles HashRing resources into replicas and publishes their rings.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>

#include "ringlb/operator/operator_app.h"

namespace {

// "15s", "500ms", "1m", "1.5s" or a bare number of seconds.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  double value = 0;
  std::size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else {
    return std::nullopt;
  }
  if (!(value > 0)) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(value * scale));
}

}  // namespace

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
  app.add_option("--watch-namespaces,--namespace", options.watchNamespaces,
                 "Watch HashRings and Pods of these namespaces only, comma-separated (default: all)")
      ->delimiter(',');
  app.add_flag("--leader-elect,!--no-leader-elect", options.leaderElect,
               "Elect one leader through a coordination.k8s.io Lease (default on); the others serve the ring API "
               "from the HashRings' status");
  app.add_option("--leader-election-namespace", options.leaseNamespace,
                 "Namespace of the Lease (default: the service account's or kubeconfig context's namespace)");
  app.add_option("--leader-election-lease-name,--leader-election-lease", options.leaseName, "Name of the Lease")
      ->capture_default_str();
  app.add_option("--leader-election-identity,--leader-election-id", options.identity,
                 "This replica's identity in the Lease (default: $POD_NAME or the hostname, plus a random suffix)");
  std::string leaseDuration = "15s";
  std::string renewDeadline = "10s";
  std::string retryPeriod = "2s";
  app.add_option("--leader-election-lease-duration", leaseDuration,
                 "How long a standby waits, from when it last saw the Lease change, before taking over (e.g. 15s)")
      ->capture_default_str();
  app.add_option("--leader-election-renew-deadline", renewDeadline,
                 "How long the leader keeps trying to renew before it stops leading (e.g. 10s)")
      ->capture_default_str();
  app.add_option("--leader-election-retry-period", retryPeriod, "Time between Lease attempts (e.g. 2s)")
      ->capture_default_str();
  app.add_option("--runtime", options.runtime, "Where replicas run: process (local processes), docker or kubernetes")
      ->capture_default_str();
  app.add_option("--docker-host", options.dockerHost,
                 "--runtime docker: Engine API endpoint, unix:///path or tcp://host:port (default: $DOCKER_HOST, "
                 "else unix:///var/run/docker.sock)");
  app.add_option("--docker-network", options.dockerNetwork,
                 "--runtime docker: user-defined network for replicas, addressed as <container name>:<template.port> "
                 "(default: host networking, each replica on a free 127.0.0.1 port passed as $PORT)");
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
  for (const auto& [flag, text, target] :
       {std::tuple{"--leader-election-lease-duration", &leaseDuration, &options.leaseDuration},
        std::tuple{"--leader-election-renew-deadline", &renewDeadline, &options.renewDeadline},
        std::tuple{"--leader-election-retry-period", &retryPeriod, &options.retryPeriod}}) {
    const auto parsed = parseDuration(*text);
    if (!parsed) {
      std::fprintf(stderr, "%s: '%s' is not a duration (e.g. 15s, 500ms, 1m)\n", flag, text->c_str());
      return 2;
    }
    *target = *parsed;
  }
  if (!ringlb::op::configureLogging(options.logLevel, options.logJson)) {
    std::fprintf(stderr, "--log-level: unknown level '%s'\n", options.logLevel.c_str());
    return 2;
  }
  return ringlb::op::runOperator(options);
}
