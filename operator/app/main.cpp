// ringlb-operator: reconciles HashRing resources into replicas and publishes their rings.
#include <CLI/CLI.hpp>

#include <chrono>
#include <string>

#include "ringlb/base/duration.h"
#include "ringlb/base/logging.h"
#include "ringlb/operator/operator_app.h"

namespace {

/// Adds `name`, a flag taking a positive DURATION (ringlb::parseDuration's forms, listed in the
/// help's footer), parsed into `target`; its current value is the default shown in --help.
CLI::Option* addDurationOption(CLI::App& app, const std::string& name, std::chrono::milliseconds& target,
                               const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [name, &target](const std::string& text) {
            auto duration = ringlb::parseDuration(text);
            if (!duration) throw CLI::ValidationError(name, duration.error());
            if (duration.value().count() == 0) throw CLI::ValidationError(name, "must be positive (got '" + text + "')");
            target = duration.value();
          },
          help)
      ->type_name("DURATION")
      ->default_str(ringlb::formatDuration(target));
}

}  // namespace

int main(int argc, char** argv) {
  ringlb::op::OperatorOptions options;
  CLI::App app{"ringlb-operator: runs one replica per HashRing slot, checks their heartbeats, replaces failed ones and "
               "publishes the ring that proxies route by."};
  app.footer("DURATION: " + std::string(ringlb::kDurationForms) + ".");
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
  app.add_option("--kube-api-qps", options.kubeApiQps,
                 "Sustained requests per second to the Kubernetes API (client-side token bucket; a watch counts "
                 "once per (re)connect)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 10000.0));
  app.add_option("--kube-api-burst", options.kubeApiBurst,
                 "Requests to the Kubernetes API allowed at once above --kube-api-qps")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
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
  addDurationOption(app, "--leader-election-lease-duration", options.leaseDuration,
                    "How long a standby waits, from when it last saw the Lease change, before taking over");
  addDurationOption(app, "--leader-election-renew-deadline", options.renewDeadline,
                    "How long the leader keeps trying to renew before it stops leading");
  addDurationOption(app, "--leader-election-retry-period", options.retryPeriod, "Time between Lease attempts");
  app.add_option("--runtime", options.runtime, "Where replicas run: process (local processes), docker or kubernetes")
      ->capture_default_str();
  app.add_option("--docker-host", options.dockerHost,
                 "--runtime docker: Engine API endpoint, unix:///path or tcp://host:port (default: $DOCKER_HOST, "
                 "else unix:///var/run/docker.sock)");
  app.add_option("--docker-network", options.dockerNetwork,
                 "--runtime docker: user-defined network for replicas, addressed as <container name>:<template.port> "
                 "(default: host networking, each replica on a free 127.0.0.1 port passed as $PORT)");
  addDurationOption(app, "--docker-timeout", options.dockerTimeout,
                    "--runtime docker: bound of each Engine API request (connect, send, answer) and of opening the "
                    "/events watch; a container stop waits its grace on top");
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
  app.add_option_function<std::string>(
         "--log-level",
         [&options](const std::string& name) {
           auto level = ringlb::parseLogLevel(name);
           if (!level) throw CLI::ValidationError("--log-level", level.error());
           options.logLevel = level.value();
         },
         std::string(ringlb::kLogLevelNames))
      ->type_name("LEVEL")
      ->default_str(std::string(ringlb::logLevelName(options.logLevel)));
  app.add_option("--prometheus-url", options.prometheusUrl,
                 "A Prometheus that scrapes the proxies (http://host:port); the status page shows per-member "
                 "traffic from it and links its graph");
  app.add_option("--prometheus-window", options.prometheusWindow, "rate() window of the status page's traffic figures")
      ->capture_default_str();
  app.add_option("--proxy-admin-url", options.proxyAdminUrls,
                 "A proxy's admin address (http://host:port), linked from the status page; repeat for several");
  app.add_option("--log-format", logFormat, "text or json (one JSON object per line)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // bad durations and levels exited 2 before CLI11 checked them; keep every usage error there
  }
  options.resync = std::chrono::seconds(resync);
  options.stopGrace = std::chrono::seconds(stopGrace);
  options.pollInterval = std::chrono::milliseconds(pollMs);
  options.logFormat = logFormat == "json" ? ringlb::LogFormat::Json : ringlb::LogFormat::Text;
  ringlb::configureLogging("ringlb-operator", options.logLevel, options.logFormat);
  return ringlb::op::runOperator(options);
}
