#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "asio_types.h"
#include "ringlb/proxy/config.h"
#include "tcp_net.h"

namespace ringlb::proxy {

class AcceptBackoff;
class ParkedConnections;
struct ClientAddress;
class RingStore;
class ProxyMetrics;
class TlsCertificateStore;
class TlsContextSet;
template <class Net>
class WorkerState;

/// One worker thread: its own io_context, its own SO_REUSEPORT acceptor and
/// its own WorkerState (pools, cached ring, sessions).
class Worker {
 public:
  /// `tls` (null without a TLS listener) serves the certificates of the TLS listener.
  Worker(const ProxyConfig& config, RingStore& store, ProxyMetrics& metrics, unsigned index,
         const TlsCertificateStore* tls = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Opens the acceptor on `endpoint` with SO_REUSEPORT and binds it without
  /// listening (connections are refused until start()); returns the bound
  /// endpoint (port 0 picks one). Throws std::system_error on failure.
  asio::ip::tcp::endpoint bind(const asio::ip::tcp::endpoint& endpoint);
  /// The same for the TLS listener (needs the certificate store).
  asio::ip::tcp::endpoint bindTls(const asio::ip::tcp::endpoint& endpoint);

  /// Listens on the bound acceptor and starts the thread (accepting and
  /// serving). Throws std::system_error when listen fails.
  void start();
  /// Stops accepting and closes idle keep-alive connections; active requests
  /// finish and their connections close. Thread-safe.
  void drain();
  /// Stops the thread and waits for it. Thread-safe; idempotent.
  void stop();

 private:
  /// Accepts on `acceptor`; `tls` connections get a TLS handshake before their session.
  Task<void> acceptLoop(TcpAcceptor& acceptor, bool tls);
  /// The certificates new TLS connections get: the store's current set,
  /// re-read only when its generation moved (one atomic load per accept).
  std::shared_ptr<const TlsContextSet> tlsContexts();
  /// After a failed accept: counts and logs it as `backoff` says, then pauses.
  Task<void> pauseAfterAcceptFailure(AcceptBackoff& backoff, error_code failure);
  Task<void> watchdogLoop();
  /// A parked connection became readable: serves it with a session again.
  /// Cold: once per idle period, kept out of the request path's inlining.
  [[gnu::cold]] void resumeParked(int fd, const ClientAddress& address, std::int64_t idleDeadline);

  const ProxyConfig& config_;
  ProxyMetrics& metrics_;
  unsigned index_;
  std::optional<asio::io_context> ioc_;
  TcpNet net_;
  std::unique_ptr<WorkerState<TcpNet>> state_;
  std::optional<TcpAcceptor> acceptor_;
  std::optional<TcpAcceptor> tlsAcceptor_;
  asio::ip::tcp clientProtocol_ = asio::ip::tcp::v4();  // the plaintext listener's, so its clients'
  std::unique_ptr<ParkedConnections> parked_;
  const TlsCertificateStore* tls_;
  std::shared_ptr<const TlsContextSet> tlsContexts_;
  std::uint64_t tlsGeneration_ = 0;
  std::optional<SteadyTimer> watchdog_;
  std::thread thread_;
};

}  // namespace ringlb::proxy
