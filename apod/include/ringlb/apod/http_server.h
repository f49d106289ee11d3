#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "ringlb/apod/request_handler.h"
#include "ringlb/base/result.h"

namespace ringlb::apod {

/// Limits and timeouts of the HTTP server.
struct HttpServerLimits {
  std::uint32_t headerLimitBytes = 16 * 1024;          // larger request heads get 431
  std::uint64_t bodyLimitBytes = 64 * 1024;            // larger request bodies get 413
  std::chrono::milliseconds readTimeout{30'000};       // per request, and keep-alive idle time
  std::chrono::milliseconds writeTimeout{30'000};      // per response
  std::chrono::milliseconds drainTimeout{10'000};      // graceful stop: then connections are cut
  std::uint32_t maxRequestsPerConnection = 10'000;     // then the connection is closed
};

/// A small async HTTP/1.1 server: one coroutine per connection on its own strand, keep-alive,
/// sequential (pipelined requests are answered in order), a deadline on every read and write.
///
/// Graceful stop: the acceptor closes, idle keep-alive connections close, requests in flight
/// finish and get `Connection: close`; after drainTimeout the io_context is stopped.
class HttpServer {
 public:
  /// `handler` must outlive the server.
  HttpServer(boost::asio::io_context& ioc, RequestHandler& handler, HttpServerLimits limits);
  ~HttpServer();

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Opens, binds and listens on `endpoint` (port 0: any free port). Startup only; returns an
  /// error naming the address on failure.
  Status listen(const boost::asio::ip::tcp::endpoint& endpoint);

  /// The bound address (useful after listening on port 0).
  [[nodiscard]] boost::asio::ip::tcp::endpoint localEndpoint() const;

  /// Starts accepting. Call once after listen().
  void start();

  /// Begins a graceful stop; `onStopped` runs (on an io_context thread) when the last
  /// connection has closed or the drain timeout cut them. Thread-safe; later calls do nothing.
  void stop(std::function<void()> onStopped);

  /// Connections currently open. Thread-safe.
  [[nodiscard]] std::size_t connectionCount() const;

 private:
  struct Connection;

  boost::asio::awaitable<void> acceptLoop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
  void forget(std::uint64_t id);
  void finishStop();

  boost::asio::io_context& ioc_;
  RequestHandler& handler_;
  HttpServerLimits limits_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;  // acceptor and stop state
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer drainTimer_;
  std::atomic<bool> stopping_{false};
  bool stopBegun_ = false;  // on strand_
  bool stopped_ = false;    // on strand_
  std::function<void()> onStopped_;

  mutable std::mutex connectionsMutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections_;
  std::uint64_t nextId_ = 0;
};

}  // namespace ringlb::apod
