#include "ringlb/operator/operator_app.h"

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <signal.h>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <random>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "ringlb/operator/api_server.h"
#include "ringlb/operator/controller.h"
#include "ringlb/operator/file_source.h"
#include "ringlb/operator/heartbeat_prober.h"
#include "ringlb/operator/kubernetes_client.h"
#include "ringlb/operator/kubernetes_config.h"
#include "ringlb/operator/kubernetes_event_recorder.h"
#include "ringlb/operator/kubernetes_source.h"
#include "ringlb/operator/leader_elector.h"
#include "ringlb/operator/leader_fenced_api.h"
#include "ringlb/operator/prometheus_operator_metrics.h"
#include "ringlb/operator/prometheus_traffic.h"
#include "ringlb/operator/ring_registry.h"
#include "ringlb/operator/status_ring_mirror.h"
#include "ringlb/operator/runtime_factory.h"

namespace ringlb::op {

namespace asio = boost::asio;

namespace {

std::string defaultIdentity(const EnvLookup& env) {
  std::string base;
  if (const auto pod = env("POD_NAME"); pod && !pod->empty()) {
    base = *pod;
  } else {
    char host[256] = {};
    base = ::gethostname(host, sizeof host - 1) == 0 ? std::string(host) : std::string("ringlb-operator");
  }
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%08x", random());
  return base + suffix;
}

}  // namespace

int runOperator(const OperatorOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  std::filesystem::path stateDir = options.stateDir;
  if (options.runtime == "kubernetes" && stateDir == OperatorOptions{}.stateDir) {
    // In a Pod the root filesystem is read-only (Restricted): keep state in the temp dir.
    stateDir = std::filesystem::temp_directory_path() / "ringlb-state";
  }
  std::filesystem::create_directories(stateDir, ec);
  if (ec) {
    spdlog::critical("--state-dir {}: {}", stateDir.string(), ec.message());
    return 1;
  }
  if (options.source != "auto" && options.source != "file" && options.source != "kubernetes") {
    spdlog::critical("--source: unknown source '{}' (one of file, kubernetes, auto)", options.source);
    return 2;
  }
  const bool kubernetesSource =
      options.source == "kubernetes" || (options.source == "auto" && options.runtime == "kubernetes");
  if (!kubernetesSource && options.resources.empty()) {
    spdlog::critical("--resources is required unless HashRings come from Kubernetes (--source kubernetes)");
    return 2;
  }
  const bool kubernetesRuntime = options.runtime == "kubernetes";
  const EnvLookup env = processEnvironment();
  SteadyClock clock;

  // Before the API client, whose answers it counts.
  PrometheusOperatorMetrics metrics;

  // The API client outlives everything that uses it: declared first.
  std::unique_ptr<KubernetesClient> kubernetes;
  // Leader election gets a client (and so a rate limit) of its own, as in controller-runtime: a
  // burst of Pod writes must not hold back the Lease renewals.
  std::unique_ptr<KubernetesClient> leaseClient;
  std::optional<KubernetesConfig> kubernetesConfig;
  KubernetesClient::Options clientOptions;
  std::string kubernetesNamespace = "default";
  if (kubernetesSource || kubernetesRuntime) {
    auto config = resolveKubernetesConfig(options.kubeconfig, options.kubeContext, env);
    if (!config) {
      spdlog::critical("{}", config.error());
      return 2;
    }
    kubernetesNamespace = config->defaultNamespace;
    spdlog::info("Kubernetes API {} ({})", config->baseUrl(), config->origin);
    clientOptions.qps = options.kubeApiQps;
    clientOptions.burst = options.kubeApiBurst;
    clientOptions.onResponse = [&metrics](std::string_view method, int status) {
      metrics.kubernetesApiResponded(method, status);
    };
    clientOptions.onRetryAfter = [&metrics](int status, std::chrono::milliseconds wait) {
      spdlog::warn("Kubernetes API answered {}; retrying after {} ms (Retry-After)", status, wait.count());
      metrics.kubernetesApiRetryAfter(status, std::chrono::duration<double>(wait).count());
    };
    clientOptions.onThrottled = [&metrics](std::chrono::milliseconds wait) {
      metrics.kubernetesApiThrottled(std::chrono::duration<double>(wait).count());
    };
    kubernetesConfig = config.value();
    auto client = KubernetesClient::create(std::move(config).value(), clientOptions, clock);
    if (!client) {
      spdlog::critical("{}", client.error());
      return 2;
    }
    kubernetes = std::move(client).value();
  }
  const std::string identity = options.identity.empty() ? defaultIdentity(env) : options.identity;
  // Everything but the elector writes through the fence: no Pod, status or
  // Event write goes out once this replica's lease may have passed to another.
  const bool electLeader = kubernetesSource && options.leaderElect;
  std::unique_ptr<LeaderElector> elector;
  std::atomic<const LeaderElector*> fenceElector{nullptr};  // set once the elector exists; read by writers
  std::unique_ptr<LeaderFencedApi> fenced;
  KubernetesApi* writer = kubernetes.get();
  if (kubernetes && electLeader) {
    fenced = std::make_unique<LeaderFencedApi>(
        *kubernetes,
        [&fenceElector, &clock] {
          const LeaderElector* current = fenceElector.load();
          return current != nullptr && current->holdsLease(clock.now());
        },
        [&metrics] { metrics.leaderWriteRefused(); });
    writer = fenced.get();
  }
  std::unique_ptr<KubernetesEventRecorder> events;
  if (kubernetes) {
    KubernetesEventRecorder::Options eventOptions;
    eventOptions.reportingInstance = identity;
    events = std::make_unique<KubernetesEventRecorder>(*writer, clock, eventOptions);
  }

  RingRegistry registry(stateDir);
  for (const auto& error : registry.load()) spdlog::warn("ring state: {}", error);

  std::unique_ptr<ResourceSource> source;
  KubernetesSource* kubernetesRings = nullptr;
  if (kubernetesSource) {
    KubernetesSourceOptions sourceOptions;
    sourceOptions.watchNamespaces = options.watchNamespaces;
    auto rings = std::make_unique<KubernetesSource>(*writer, sourceOptions);
    rings->recordEventsWith(events.get());
    kubernetesRings = rings.get();
    source = std::move(rings);
  } else {
    source = std::make_unique<FileSource>(options.resources, options.pollInterval);
  }

  RuntimeOptions runtimeOptions;
  runtimeOptions.name = options.runtime;
  runtimeOptions.stateDir = stateDir;
  runtimeOptions.dockerHost = options.dockerHost;
  runtimeOptions.dockerNetwork = options.dockerNetwork;
  runtimeOptions.dockerTimeout = options.dockerTimeout;
  runtimeOptions.stopGrace = options.stopGrace;
  runtimeOptions.kubernetesApi = writer;
  runtimeOptions.kubernetesNamespaces = options.watchNamespaces;
  runtimeOptions.kubernetesEvents = events.get();
  runtimeOptions.kubernetesOwners = kubernetesRings;
  auto runtime = makeRuntime(runtimeOptions);
  if (!runtime) {
    spdlog::critical("{}", runtime.error());
    return 2;
  }
  for (const auto& key : registry.keys()) {
    const auto ring = registry.get(key);
    std::vector<std::pair<std::string, double>> shares;
    for (std::size_t i = 0; i < ring->members().size(); ++i) shares.emplace_back(ring->members()[i].id, ring->shares()[i]);
    metrics.ringLoaded(key, ring->version(), shares);
    spdlog::info("ring {} v{} served again from {}", key, ring->version(), stateDir.string());
  }
  asio::io_context io(1);
  Controller* controllerPtr = nullptr;
  HeartbeatProber prober(io, [&controllerPtr](const ProbeResult& result) {
    if (controllerPtr) controllerPtr->onProbeResult(result);
  });
  ControllerOptions controllerOptions;
  controllerOptions.resync = options.resync;
  controllerOptions.workers = options.workers;
  controllerOptions.reconcile.stopGrace = options.stopGrace;
  controllerOptions.invalidResourceMakesUnready = !kubernetesSource;
  Controller controller(*source, *runtime.value(), registry, prober, metrics, clock, controllerOptions);
  controllerPtr = &controller;

  // Leader election (Kubernetes only): every replica serves the ring API; only the leader reconciles.
  std::mutex mutex;
  std::condition_variable signalled;
  int received = 0;
  bool leading = false;
  bool lostLeadership = false;
  std::atomic<bool> following{false};
  if (electLeader) {
    LeaderElectionOptions election;
    election.leaseNamespace = options.leaseNamespace.empty() ? kubernetesNamespace : options.leaseNamespace;
    election.leaseName = options.leaseName;
    election.identity = identity;
    election.leaseDuration = options.leaseDuration;
    election.renewDeadline = options.renewDeadline;
    election.retryPeriod = options.retryPeriod;
    if (auto valid = LeaderElector::validate(election); !valid) {
      spdlog::critical("{}", valid.error());
      return 2;
    }
    LeaderElector::Callbacks callbacks;
    callbacks.onStartedLeading = [&] {
      metrics.setLeader(true);
      std::lock_guard lock(mutex);
      leading = true;
      signalled.notify_all();
    };
    callbacks.onStoppedLeading = [&] {
      metrics.setLeader(false);
      std::lock_guard lock(mutex);
      lostLeadership = true;
      signalled.notify_all();
    };
    callbacks.onNewLeader = [identity](const std::string& holder) {
      if (holder != identity) spdlog::info("leader election: {} leads", holder);
    };
    auto client = KubernetesClient::create(*kubernetesConfig, clientOptions, clock);
    if (!client) {
      spdlog::critical("{}", client.error());
      return 2;
    }
    leaseClient = std::move(client).value();
    elector = std::make_unique<LeaderElector>(*leaseClient, clock, election, callbacks);
    fenceElector = elector.get();
    following = true;
    kubernetesRings->onObserved([&registry, &following](const ResourceEvent& event) {
      if (!following) return;
      if (auto mirrored = mirrorRingFromStatus(registry, event); !mirrored) {
        spdlog::warn("ring {}: status not servable: {}", event.key, mirrored.error());
      }
    });
  }

  std::optional<PrometheusTraffic> traffic;
  if (!options.prometheusUrl.empty()) {
    if (auto url = parseHttpUrl(options.prometheusUrl); !url) {
      spdlog::critical("{}", url.error());
      return 2;
    }
    traffic.emplace(io, PrometheusTrafficOptions{options.prometheusUrl, options.prometheusWindow});
    traffic->start();
  }
  const nlohmann::json links = {{"prometheus", options.prometheusUrl.empty() ? nlohmann::json(nullptr)
                                                                              : nlohmann::json(options.prometheusUrl)},
                                {"proxyAdmin", options.proxyAdminUrls}};
  ApiServer server(io, registry,
                   {[&controller, &traffic, &links] {
                      nlohmann::json status = controller.statusJson();
                      status["traffic"] = traffic ? traffic->snapshot() : nlohmann::json(nullptr);
                      status["links"] = links;
                      return status;
                    },
                    [&controller, &following, kubernetesRings]() -> Result<std::string> {
                      if (following) {
                        if (!kubernetesRings->synced()) return Error::unavailable("not ready: HashRings not listed yet");
                        return std::string("following the leader");
                      }
                      return controller.readiness();
                    },
                    [&metrics] { return metrics.serialize(); }});
  auto bound = server.listen(options.listen);
  if (!bound) {
    spdlog::critical("{}", bound.error());
    return 1;
  }
  spdlog::info("ringlb-operator listening on {}:{} (runtime {}, resources {}, state {})",
               bound->address().to_string(), bound->port(), options.runtime,
               kubernetesRings ? "kubernetes" : options.resources, stateDir.string());

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int number) {
    if (error) return;
    std::lock_guard lock(mutex);
    received = number;
    signalled.notify_all();
  });
  std::thread ioThread([&io] { io.run(); });
  const auto abort = [&](int code) {
    if (elector) elector->stop();
    server.close();
    if (traffic) traffic->stop();
    io.stop();
    ioThread.join();
    return code;
  };

  if (elector) {
    kubernetesRings->startObserving();
    elector->start();
    spdlog::info("leader election: {} campaigning for Lease {}/{}", identity,
                 options.leaseNamespace.empty() ? kubernetesNamespace : options.leaseNamespace, options.leaseName);
    std::unique_lock lock(mutex);
    signalled.wait(lock, [&] { return received != 0 || leading; });
  }
  bool started = false;
  if (received == 0) {
    following = false;
    if (auto ok = controller.start(); !ok) {
      spdlog::critical("{}", ok.error());
      return abort(1);
    }
    started = true;
    if (!elector) metrics.setLeader(true);  // alone, it reconciles from the start
  }
  {
    std::unique_lock lock(mutex);
    signalled.wait(lock, [&] { return received != 0 || lostLeadership; });
  }
  // Replicas outlive the operator on Kubernetes: the next leader adopts them.
  const bool stopReplicas = !options.leaveRunning && !kubernetesRuntime;
  if (lostLeadership) {
    spdlog::error("leader election: leadership lost; stopping (a restart campaigns again)");
  } else {
    spdlog::info("{} received: shutting down{}", received == SIGTERM ? "SIGTERM" : "SIGINT",
                 stopReplicas ? ", stopping replicas" : " (leaving replicas running)");
  }
  if (started) controller.shutdown(stopReplicas && !lostLeadership);
  source->stop();
  runtime.value()->shutdown();
  if (events) events->stop();  // Events are leader work too: out before the Lease is
  if (elector) {
    elector->stop();
    // Only now that no work runs: let a standby take over without waiting out the lease.
    if (!lostLeadership) {
      if (auto released = elector->release(); !released) spdlog::warn("{}", released.error());
    }
  }
  server.close();
  if (traffic) traffic->stop();
  io.stop();
  ioThread.join();
  spdlog::info("ringlb-operator stopped");
  return lostLeadership ? 1 : 0;
}

}  // namespace ringlb::op
