#include "worker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include "accept_backoff.h"
#include "parked_connections.h"
#include "proxy_metrics.h"
#include "session_impl.h"
#include "tls_certificate_store.h"
#include "tls_connection.h"
#include "worker_state_impl.h"

namespace ringlb::proxy {

template class WorkerState<TcpNet>;
template class Session<TcpNet>;

namespace {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// The watchdog runs often enough for the shortest timeout to be honoured within a quarter of it.
std::chrono::milliseconds tickInterval(const ProxyConfig& config) {
  const auto& t = config.timeouts;
  auto shortest = std::min({t.requestHead, t.idle, t.upstreamConnect, t.upstreamResponse, t.upstreamIdle, t.tunnel});
  return std::clamp<std::chrono::milliseconds>(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(100));
}

void logFailure(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("connection ended by an unexpected error: {}", e.what());
  }
}

}  // namespace

Worker::Worker(const ProxyConfig& config, RingStore& store, ProxyMetrics& metrics, unsigned index,
               const TlsCertificateStore* tls)
    : config_(config), metrics_(metrics), index_(index), tls_(tls) {
  // Only this worker's thread touches its sockets (drain() posts), so the
  // reactor's per-socket locks are pure cost on the data plane.
  ioc_.emplace(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  state_ = std::make_unique<WorkerState<TcpNet>>(*ioc_, config, net_, store, metrics, index);
  parked_ = std::make_unique<ParkedConnections>(
      *ioc_, metrics.activeConnections, metrics.parkedConnections,
      [this](int fd, const ClientAddress& address, std::int64_t idleDeadline) { resumeParked(fd, address, idleDeadline); });
  state_->useParking(parked_.get());
}

Worker::~Worker() {
  stop();
  acceptor_.reset();
  tlsAcceptor_.reset();
  watchdog_.reset();
  state_->closeIdleConnections();
  state_->dropSendTurns();
  state_->useParking(nullptr);
  parked_.reset();  // closes the parked connections; its epoll descriptor belongs to ioc_
  ioc_.reset();  // destroys the sessions still parked in it, while state_ is alive
  state_.reset();
}

namespace {

asio::ip::tcp::endpoint bindReusePort(TcpAcceptor& acceptor, const asio::ip::tcp::endpoint& endpoint) {
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.set_option(ReusePort(true));
  acceptor.bind(endpoint);
  return acceptor.local_endpoint();
}

}  // namespace

asio::ip::tcp::endpoint Worker::bind(const asio::ip::tcp::endpoint& endpoint) {
  acceptor_.emplace(*ioc_);
  clientProtocol_ = endpoint.protocol();
  return bindReusePort(*acceptor_, endpoint);
}

asio::ip::tcp::endpoint Worker::bindTls(const asio::ip::tcp::endpoint& endpoint) {
  tlsAcceptor_.emplace(*ioc_);
  return bindReusePort(*tlsAcceptor_, endpoint);
}

std::shared_ptr<const TlsContextSet> Worker::tlsContexts() {
  if (const auto generation = tls_->generation(); generation != tlsGeneration_) {
    tlsContexts_ = tls_->current();
    tlsGeneration_ = generation;
  }
  return tlsContexts_;
}

void Worker::start() {
  acceptor_->listen(asio::socket_base::max_listen_connections);
  if (tlsAcceptor_) tlsAcceptor_->listen(asio::socket_base::max_listen_connections);
  watchdog_.emplace(*ioc_);
  asio::co_spawn(*ioc_, acceptLoop(*acceptor_, false), logFailure);
  if (tlsAcceptor_) asio::co_spawn(*ioc_, acceptLoop(*tlsAcceptor_, true), logFailure);
  asio::co_spawn(*ioc_, watchdogLoop(), logFailure);
  thread_ = std::thread([this] {
    try {
      ioc_->run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {} stopped: {}", index_, e.what());
    }
  });
}

void Worker::drain() {
  asio::post(*ioc_, [this] {
    error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    if (tlsAcceptor_) tlsAcceptor_->close(ignored);
    state_->beginDrain();
  });
}

void Worker::stop() {
  if (ioc_) ioc_->stop();
  if (thread_.joinable()) thread_.join();
}

Task<void> Worker::acceptLoop(TcpAcceptor& acceptor, bool tls) {
  const std::size_t maxConnections = config_.limits.maxConnections;
  AcceptBackoff backoff;
  for (;;) {
    error_code ec;
    TcpSocket socket(*ioc_);
    co_await acceptor.async_accept(socket, noThrow(ec));
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      co_await pauseAfterAcceptFailure(backoff, ec);
      continue;
    }
    if (const auto failures = backoff.onSuccess(); failures != 0) {
      spdlog::info("worker {}: accepting again after {} failed accepts", index_, failures);
    }
    // Closed at once rather than left in the backlog: the client learns now,
    // and the connections already open keep their share of the worker.
    if (static_cast<std::size_t>(metrics_.activeConnections.load(std::memory_order_relaxed)) >= maxConnections) {
      metrics_.countRefusal(RefusalReason::MaxConnections);
      socket.close(ec);
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    const auto remote = socket.remote_endpoint(ec);
    if (ec) continue;  // already gone
    auto address = remote.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    auto ip = address.to_string();
    if (tls) {
      spawnTlsConnection(*state_, std::move(socket), ip, tlsContexts());
      continue;
    }
    auto session = std::make_unique<Session<TcpNet>>(*state_, std::move(socket), ip);
    Session<TcpNet>::spawn(std::move(session));
  }
}

Task<void> Worker::pauseAfterAcceptFailure(AcceptBackoff& backoff, error_code failure) {
  const int error = failure.category() == asio::error::get_system_category() ? failure.value() : 0;
  const auto step = backoff.onFailure(error);
  if (step.fdLimit) metrics_.countRefusal(RefusalReason::FdLimit);
  if (step.logIt) {
    spdlog::warn("worker {}: accept failed: {}; backing off up to {} ms while open connections are served", index_,
                 failure.message(), AcceptBackoff::kMaxPause.count());
  }
  if (step.pause.count() == 0) co_return;
  SteadyTimer pause(*ioc_);
  pause.expires_after(step.pause);
  error_code ignored;
  co_await pause.async_wait(noThrow(ignored));
}

void Worker::resumeParked(int fd, const ClientAddress& address, std::int64_t idleDeadline) {
  TcpSocket socket(*ioc_);
  error_code ec;
  socket.assign(clientProtocol_, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  std::array<char, 46> ip{};
  const auto length = address.format(ip);
  auto session = std::make_unique<Session<TcpNet>>(*state_, std::move(socket), std::string_view(ip.data(), length),
                                                   idleDeadline);
  Session<TcpNet>::spawn(std::move(session));
}

Task<void> Worker::watchdogLoop() {
  const auto interval = tickInterval(config_);
  for (;;) {
    watchdog_->expires_after(interval);
    error_code ec;
    co_await watchdog_->async_wait(noThrow(ec));
    if (ec) co_return;
    state_->tick(coarseNanos());
  }
}

}  // namespace ringlb::proxy
