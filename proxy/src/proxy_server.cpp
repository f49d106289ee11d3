#include "ringlb/proxy/proxy_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "admin_server.h"
#include "health_registry.h"
#include "proxy_metrics.h"
#include "ring_file_watcher.h"
#include "ring_publisher.h"
#include "ring_store.h"
#include "ring_url_watcher.h"
#include "routing_table.h"
#include "tls_certificate_store.h"
#include "worker.h"

namespace ringlb::proxy {

namespace {

ring::RingSpec staticRing(const ProxyConfig& config) {
  ring::RingSpec spec;
  spec.name = "static";
  spec.version = 1;
  spec.members = config.backends;
  return spec;
}

asio::ip::tcp::endpoint listenEndpoint(const HostPort& address) {
  error_code ec;
  const auto ip = asio::ip::make_address(address.host, ec);
  if (!ec) return {ip, address.port};
  if (auto resolved = resolveAddress(address.toString())) return *resolved;
  throw std::runtime_error("cannot resolve listen address " + address.toString());
}

// A proxy that follows a ring source listens on its data port only once the first ring arrived
// (or --initial-ring-wait passed), as Envoy warms a listener before serving it: until then a
// client's connect is refused, so a client or load balancer in front tries another proxy instead
// of getting a 503. The control loop runs meanwhile (the watchers and the admin listener); the
// workers listen right after the handler that published the ring, before the loop runs another.
void awaitFirstRing(asio::io_context& control, const RingStore& store, std::chrono::milliseconds wait) {
  if (store.generation() != 0 || wait.count() == 0) return;
  spdlog::info("waiting up to {} ms for the first ring before listening for clients", wait.count());
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (store.generation() == 0 && std::chrono::steady_clock::now() < deadline && !control.stopped()) {
    control.run_one_until(deadline);
  }
  if (store.generation() == 0) {
    spdlog::warn("no ring after {} ms (--initial-ring-wait): listening anyway, answering 503 until one arrives",
                 wait.count());
  }
}

std::string describe(const TlsContextSet& set) {
  std::string out;
  for (const auto& names : set.names()) {
    if (!out.empty()) out += "; ";
    for (std::size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : ",") + names[i];
  }
  return out;
}

// Re-reads the certificate files when they change. A failed load keeps the
// certificates in force (TlsCertificateStore) and says which file and why.
Task<void> watchTlsCertificates(TlsCertificateStore& store, SteadyTimer& timer, std::chrono::milliseconds interval) {
  for (;;) {
    timer.expires_after(interval);
    error_code ec;
    co_await timer.async_wait(noThrow(ec));
    if (ec) co_return;
    const auto status = store.reloadIfChanged();
    if (!status) continue;
    if (*status) {
      spdlog::info("TLS certificates reloaded (generation {}): {}", store.generation(), describe(*store.current()));
    } else {
      spdlog::error("TLS certificates not reloaded, the previous ones stay in force: {}", status->error());
    }
  }
}

}  // namespace

ProxyServer::ProxyServer(ProxyConfig config) : config_(std::move(config)) {}
ProxyServer::~ProxyServer() = default;

int ProxyServer::run() {
  asio::io_context control(1);
  RingStore store;
  HealthRegistry health;
  ProxyMetrics metrics(store, health);
  std::atomic<bool> draining{false};
  RingPublisher publisher(store, health, config_.key);

  std::unique_ptr<RingFileWatcher> fileWatcher;
  std::unique_ptr<RingUrlWatcher> urlWatcher;
  if (!config_.backends.empty()) {
    if (auto status = publisher.apply(staticRing(config_), "static"); !status) {
      spdlog::critical("--backends: {}", status.error());
      return 2;
    }
    store.setStatic();
  } else if (!config_.ringFile.empty()) {
    fileWatcher = std::make_unique<RingFileWatcher>(control, publisher, store, config_.ringFile);
    if (auto status = fileWatcher->loadNow(); !status) {
      spdlog::error("--ring-file: {}; serving 503 until a valid ring appears", status.error());
    }
  } else {
    urlWatcher = std::make_unique<RingUrlWatcher>(control, publisher, store, *config_.ringUrl, config_.ringWatchTimeout,
                                                  config_.ringBackoffMax);
  }

  std::unique_ptr<TlsCertificateStore> tls;
  if (config_.tls.listen) {
    const auto alpn = config_.listenProtocol == ListenerProtocol::Http1 ? TlsAlpn::Http1Only : TlsAlpn::H2AndHttp1;
    tls = std::make_unique<TlsCertificateStore>(config_.tls.certificates, alpn);
    if (auto status = tls->load(); !status) {
      spdlog::critical("--tls-cert: {}", status.error());
      return 2;
    }
    spdlog::info("TLS certificates loaded: {}", describe(*tls->current()));
    metrics.watchTls(tls.get());
  }

  const unsigned threads = config_.threads != 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<Worker>> workers;
  AdminServer admin(control, store, metrics, draining);
  asio::ip::tcp::endpoint dataEndpoint;
  asio::ip::tcp::endpoint adminEndpoint;
  try {
    dataEndpoint = listenEndpoint(config_.listen);
    for (unsigned i = 0; i < threads; ++i) {
      workers.push_back(std::make_unique<Worker>(config_, store, metrics, i, tls.get()));
      // Port 0 picks a port once; every other worker joins it through SO_REUSEPORT.
      dataEndpoint = workers.back()->bind(dataEndpoint);
    }
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {} (--listen): {}", config_.listen.toString(), e.what());
    return 2;
  }
  asio::ip::tcp::endpoint tlsEndpoint;
  if (tls) {
    try {
      tlsEndpoint = listenEndpoint(*config_.tls.listen);
      for (auto& worker : workers) tlsEndpoint = worker->bindTls(tlsEndpoint);
    } catch (const std::exception& e) {
      spdlog::critical("cannot listen on {} (--tls-listen): {}", config_.tls.listen->toString(), e.what());
      return 2;
    }
  }
  try {
    adminEndpoint = admin.listen(config_.admin);
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {} (--admin): {}", config_.admin.toString(), e.what());
    return 2;
  }

  admin.start();
  if (fileWatcher) fileWatcher->start();
  if (urlWatcher) urlWatcher->start();
  SteadyTimer tlsTimer(control);
  if (tls) asio::co_spawn(control, watchTlsCertificates(*tls, tlsTimer, config_.tls.reloadInterval), [](std::exception_ptr) {});
  // Registered before the wait for the first ring, so a SIGTERM during it ends the proxy cleanly.
  asio::signal_set signals(control, SIGTERM, SIGINT);
  SteadyTimer drainTimer(control);
  std::chrono::steady_clock::time_point drainDeadline;
  std::function<void()> checkDrained = [&] {
    const auto active = metrics.activeConnections.load();
    if (active == 0 || std::chrono::steady_clock::now() >= drainDeadline) {
      if (active != 0) spdlog::warn("drain timeout: closing {} connections still open", active);
      else spdlog::info("drained; exiting");
      control.stop();
      return;
    }
    drainTimer.expires_after(std::chrono::milliseconds(20));
    drainTimer.async_wait([&](error_code ec) {
      if (!ec) checkDrained();
    });
  };
  std::function<void(error_code, int)> onSignal = [&](error_code ec, int signal) {
    if (ec) return;
    if (draining.exchange(true)) {
      spdlog::warn("second signal {}: exiting now", signal);
      control.stop();
      return;
    }
    spdlog::info("signal {}: draining for up to {} ms", signal, config_.timeouts.drain.count());
    for (auto& worker : workers) worker->drain();
    if (fileWatcher) fileWatcher->stop();
    if (urlWatcher) urlWatcher->stop();
    tlsTimer.cancel();
    drainDeadline = std::chrono::steady_clock::now() + config_.timeouts.drain;
    checkDrained();
    signals.async_wait(onSignal);
  };
  signals.async_wait(onSignal);
  awaitFirstRing(control, store, config_.timeouts.initialRing);
  if (draining.load()) {
    spdlog::info("stopped before listening for clients");
    return 0;
  }
  try {
    for (auto& worker : workers) worker->start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {} (--listen): {}", config_.listen.toString(), e.what());
    return 2;
  }
  spdlog::info("ringlb-proxy listening data={}:{} admin={}:{} threads={}{}", dataEndpoint.address().to_string(),
               dataEndpoint.port(), adminEndpoint.address().to_string(), adminEndpoint.port(), threads,
               tls ? " tls=" + tlsEndpoint.address().to_string() + ":" + std::to_string(tlsEndpoint.port()) : "");

  control.run();
  for (auto& worker : workers) worker->stop();
  workers.clear();
  return 0;
}

}  // namespace ringlb::proxy
