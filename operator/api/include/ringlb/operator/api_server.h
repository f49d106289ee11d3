#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "ringlb/operator/ring_registry.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

/// What the HTTP API reads from the rest of the operator. Every function is
/// called on the io thread and must not block.
struct ApiHandlers {
  std::function<nlohmann::json()> status;  // GET /v1/status (drives the status page)
  std::function<Result<std::string>()> readiness;  // GET /readyz: 200 and the explanation, or 503 and the Error
  std::function<std::string()> metrics;                     // GET /metrics, Prometheus text
};

/// The operator's HTTP listener (default :8081), HTTP/1.1 with keep-alive:
///   GET /v1/rings                         {"rings":[<ring + "namespace">...]}
///   GET /v1/rings/{namespace}/{name}      the ring (wire format), header X-Ring-Version
///   GET /v1/rings/{namespace}/{name}?watch=V[&timeoutSeconds=N]
///                                         long-poll: 200 once version > V, 304 after N s (default 30, max 300)
///   GET /v1/rings/{namespace}/{name}/explain?key=K
///                                         owner, successor walk and the pick for K
///   GET /v1/rings/{namespace}/{name}/points
///                                         where each member sits on the circle, for the status page's ring view:
///                                         `ring`: every virtual node as hash >> 48 (0-65535); `maglev`: the
///                                         owner of 4096 evenly spaced table entries
///   GET /v1/rings/{name}[...]             the same, for the one namespace with a ring of that name
///   GET /v1/status, /healthz, /readyz, /metrics, / (status page)
/// Unknown rings are 404; a bare name that several namespaces use is 409,
/// naming them (never one picked). Runs on the given io_context (one thread).
class ApiServer {
 public:
  ApiServer(boost::asio::io_context& io, RingRegistry& registry, ApiHandlers handlers);

  /// Binds and starts accepting. Returns the bound endpoint (port 0 picks one)
  /// or an Error naming the address.
  Result<boost::asio::ip::tcp::endpoint> listen(const std::string& address);

  /// Stops accepting and wakes every watcher. Thread-safe.
  void close();

 private:
  struct Response;
  struct Request;
  enum class RingView { Ring, Explain, Points };
  struct RingRoute {
    std::string ref;  // "namespace/name" or a bare name
    RingView view = RingView::Ring;
  };
  void notify(const std::string& key);  // io thread: wakes watchers of ring `key`
  std::optional<RingRoute> parseRingRoute(const std::string& rest) const;
  Response explain(const std::string& key, const Request& request) const;
  Response points(const std::string& key) const;
  boost::asio::awaitable<void> acceptLoop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<Response> handle(const Request& request);
  boost::asio::awaitable<Response> watch(const std::string& key, std::uint64_t known, std::chrono::seconds timeout);

  boost::asio::io_context& io_;
  RingRegistry& registry_;
  ApiHandlers handlers_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::multimap<std::string, std::weak_ptr<boost::asio::steady_timer>> watchers_;  // io thread
  bool closed_ = false;
};

/// Parses "ADDR:PORT", ":PORT" (all interfaces) or "[V6]:PORT".
Result<boost::asio::ip::tcp::endpoint> parseListenAddress(const std::string& address);

/// The status page (HTML, inline SVG and script, no external assets).
std::string_view statusPageHtml();

}  // namespace ringlb::op
