#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

#include "asio_types.h"
#include "ringlb/proxy/config.h"

namespace ringlb::proxy {

class RingStore;
class ProxyMetrics;

/// A finished admin response.
struct AdminResponse {
  unsigned status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

/// The admin listener: /metrics (Prometheus text), /healthz, /readyz (a
/// ring is loaded, a member is Ready and the proxy is not draining), /ring
/// (version, members, states, exact shares) and /explain?key=K. Runs on the
/// control io_context; never on a worker thread.
class AdminServer {
 public:
  AdminServer(asio::io_context& ioc, const RingStore& store, ProxyMetrics& metrics, const std::atomic<bool>& draining);

  /// Binds `address`; returns the bound endpoint. Throws std::system_error.
  asio::ip::tcp::endpoint listen(const HostPort& address);
  void start();
  void stop();

  /// Routes one request (pure apart from reading the store and metrics); exposed for tests.
  AdminResponse handle(std::string_view method, std::string_view target) const;

 private:
  Task<void> acceptLoop();
  Task<void> serve(TcpSocket socket);

  asio::io_context& ioc_;
  const RingStore& store_;
  ProxyMetrics& metrics_;
  const std::atomic<bool>& draining_;
  std::optional<TcpAcceptor> acceptor_;
};

/// Decodes %XX escapes (and nothing else) of a query value.
std::string percentDecode(std::string_view text);

}  // namespace ringlb::proxy
