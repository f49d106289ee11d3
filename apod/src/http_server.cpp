#include "ringlb/apod/http_server.h"

#include <exception>
#include <optional>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

namespace ringlb::apod {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kAcceptBackoff = std::chrono::milliseconds{50};

// Which read errors deserve an error response rather than a silent close.
std::optional<http::status> rejection(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
  if (ec.category() == beast::error_code{http::error::bad_target}.category()) return http::status::bad_request;
  return std::nullopt;  // timeouts, resets, cancellation
}

void logCoroutineFailure(const char* what, std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("{} ended with an exception: {}", what, e.what());
  } catch (...) {
    spdlog::error("{} ended with an unknown exception", what);
  }
}

}  // namespace

struct HttpServer::Connection {
  Connection(tcp::socket socket, std::uint64_t connectionId) : stream{std::move(socket)}, id{connectionId} {}

  beast::tcp_stream stream;
  std::uint64_t id;
  bool idle = true;  // waiting for a request; only touched on the connection's strand
};

HttpServer::HttpServer(asio::io_context& ioc, RequestHandler& handler, HttpServerLimits limits)
    : ioc_{ioc},
      handler_{handler},
      limits_{limits},
      strand_{asio::make_strand(ioc)},
      acceptor_{strand_},
      drainTimer_{strand_} {}

HttpServer::~HttpServer() = default;

Status HttpServer::listen(const tcp::endpoint& endpoint) {
  const auto where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"cannot listen on " + where + ": " + ec.message()};
  return ok();
}

tcp::endpoint HttpServer::localEndpoint() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void HttpServer::start() {
  asio::co_spawn(strand_, acceptLoop(), [](std::exception_ptr e) { logCoroutineFailure("accept loop", e); });
}

std::size_t HttpServer::connectionCount() const {
  const std::lock_guard lock{connectionsMutex_};
  return connections_.size();
}

asio::awaitable<void> HttpServer::acceptLoop() {
  for (;;) {
    tcp::socket socket{asio::make_strand(ioc_)};
    beast::error_code ec;
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      // EMFILE and friends: back off rather than spin.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer backoff{strand_, kAcceptBackoff};
      co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::shared_ptr<Connection> connection;
    {
      const std::lock_guard lock{connectionsMutex_};
      connection = std::make_shared<Connection>(std::move(socket), nextId_++);
      connections_.emplace(connection->id, connection);
    }
    auto executor = connection->stream.get_executor();
    asio::co_spawn(executor, serve(std::move(connection)),
                   [](std::exception_ptr e) { logCoroutineFailure("connection", e); });
  }
}

asio::awaitable<void> HttpServer::serve(std::shared_ptr<Connection> connection) {
  auto& stream = connection->stream;
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (std::uint32_t served = 0; !stopping_.load(std::memory_order_acquire);) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(limits_.headerLimitBytes);
    parser.body_limit(limits_.bodyLimitBytes);
    connection->idle = true;
    stream.expires_after(limits_.readTimeout);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    connection->idle = false;
    if (ec) {
      if (const auto status = rejection(ec)) {
        auto response = handler_.reject(*status, ec.message());
        response.keep_alive(false);
        stream.expires_after(limits_.writeTimeout);
        co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      }
      break;
    }
    ++served;
    const bool keepAlive = parser.get().keep_alive() && served < limits_.maxRequestsPerConnection;
    auto response = co_await handler_.handle(parser.release());
    response.keep_alive(keepAlive && !stopping_.load(std::memory_order_acquire));
    stream.expires_after(limits_.writeTimeout);
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !response.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  forget(connection->id);
}

void HttpServer::forget(std::uint64_t id) {
  bool last = false;
  {
    const std::lock_guard lock{connectionsMutex_};
    connections_.erase(id);
    last = connections_.empty();
  }
  if (last && stopping_.load(std::memory_order_acquire)) asio::post(strand_, [this] { finishStop(); });
}

void HttpServer::stop(std::function<void()> onStopped) {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(strand_, [this, callback = std::move(onStopped)]() mutable {
    onStopped_ = std::move(callback);
    stopBegun_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);

    std::vector<std::shared_ptr<Connection>> live;
    {
      const std::lock_guard lock{connectionsMutex_};
      for (const auto& [id, weak] : connections_) {
        if (auto connection = weak.lock()) live.push_back(std::move(connection));
      }
    }
    spdlog::info("stopping: {} connection(s) open, draining for up to {} ms", live.size(),
                 limits_.drainTimeout.count());
    // Idle keep-alive connections close now; busy ones see stopping_ after their response.
    for (auto& connection : live) {
      asio::post(connection->stream.get_executor(), [connection] {
        if (connection->idle) {
          beast::error_code cancelError;
          connection->stream.socket().cancel(cancelError);
        }
      });
    }
    if (connectionCount() == 0) {
      finishStop();
      return;
    }
    drainTimer_.expires_after(limits_.drainTimeout);
    drainTimer_.async_wait([this](const beast::error_code& ec) {
      if (ec || stopped_) return;
      spdlog::warn("drain timeout: cutting {} connection(s)", connectionCount());
      stopped_ = true;
      ioc_.stop();
    });
  });
}

void HttpServer::finishStop() {
  // Runs on strand_. Before stop()'s own step has run, that step will find no connections
  // and finish itself.
  if (stopped_ || !stopBegun_) return;
  stopped_ = true;
  drainTimer_.cancel();
  if (auto callback = std::move(onStopped_)) callback();
}

}  // namespace ringlb::apod
