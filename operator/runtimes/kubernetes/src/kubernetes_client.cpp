#include "ringlb/base/percent_encoding.h"
#include "ringlb/operator/kubernetes_client.h"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

namespace ringlb::op {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr std::uint64_t kMaxResponseBytes = 64u << 20;
constexpr std::size_t kStreamBufferBytes = 16 * 1024;

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  std::size_t start = 0;
  while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
  return text.substr(start);
}

bool isIpLiteral(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Detects a dead peer behind a silent load balancer well before the idle timeout.
void enableKeepalive(tcp::socket& socket) {
  beast::error_code ec;
  socket.set_option(asio::socket_base::keep_alive(true), ec);
  const int idle = 30;
  const int interval = 10;
  const int count = 3;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  socket.set_option(tcp::no_delay(true), ec);
}

std::string describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

// A transport failure: a timeout is worth a quick retry, anything else means
// the API server cannot be reached (or the TLS handshake failed).
Error transportError(std::string what, const beast::error_code& ec) {
  std::string message = std::move(what) + ": " + describe(ec);
  if (ec == beast::error::timeout) return Error::transient(std::move(message));
  return Error::unavailable(std::move(message));
}

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// `limit`, cut short by the caller's deadline (never below 1 ms: Beast treats 0 as "now", which is what is meant).
std::chrono::milliseconds within(std::chrono::milliseconds limit, const Deadline& deadline) {
  if (!deadline) return limit;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
  return std::clamp(left, std::chrono::milliseconds(1), limit);
}

bool passed(const Deadline& deadline) { return deadline && std::chrono::steady_clock::now() >= *deadline; }

}  // namespace

struct KubernetesClient::Impl {
  KubernetesConfig config;
  Options options;
  const Clock& clock;
  std::optional<ssl::context> tlsContext;

  std::mutex tokenMutex;
  std::string token;
  Clock::TimePoint tokenLoadedAt{};
  bool tokenLoaded = false;

  struct Connection {
    asio::io_context ioc;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    bool connected = false;
    Clock::TimePoint idleSince{};

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  };

  std::mutex poolMutex;
  std::vector<std::unique_ptr<Connection>> idle;

  Impl(KubernetesConfig c, Options o, const Clock& k) : config(std::move(c)), options(std::move(o)), clock(k) {}

  Status loadTls() {
    if (!config.tls) return ok();
    tlsContext.emplace(ssl::context::tls_client);
    beast::error_code ec;
    tlsContext->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (config.insecureSkipTlsVerify) {
      tlsContext->set_verify_mode(ssl::verify_none);
    } else {
      tlsContext->set_verify_mode(ssl::verify_peer);
      if (!config.caData.empty()) {
        tlsContext->add_certificate_authority(asio::buffer(config.caData), ec);
        if (ec) return Error{config.origin + ": certificate-authority-data: " + ec.message()};
      } else if (!config.caFile.empty()) {
        tlsContext->load_verify_file(config.caFile, ec);
        if (ec) return Error{config.origin + ": certificate-authority " + config.caFile + ": " + ec.message()};
      } else {
        tlsContext->set_default_verify_paths(ec);
      }
    }
    if (!config.clientCertData.empty()) {
      tlsContext->use_certificate_chain(asio::buffer(config.clientCertData), ec);
      if (ec) return Error{config.origin + ": client-certificate-data: " + ec.message()};
    } else if (!config.clientCertFile.empty()) {
      tlsContext->use_certificate_chain_file(config.clientCertFile, ec);
      if (ec) return Error{config.origin + ": client-certificate " + config.clientCertFile + ": " + ec.message()};
    }
    if (!config.clientKeyData.empty()) {
      tlsContext->use_private_key(asio::buffer(config.clientKeyData), ssl::context::pem, ec);
      if (ec) return Error{config.origin + ": client-key-data: " + ec.message()};
    } else if (!config.clientKeyFile.empty()) {
      tlsContext->use_private_key_file(config.clientKeyFile, ssl::context::pem, ec);
      if (ec) return Error{config.origin + ": client-key " + config.clientKeyFile + ": " + ec.message()};
    }
    return ok();
  }

  // The bearer token; a token file is re-read after tokenRefresh or when forced (after a 401).
  std::string bearerToken(bool forceReload) {
    if (config.tokenFile.empty()) return config.token;
    std::lock_guard lock(tokenMutex);
    const auto now = clock.now();
    if (forceReload || !tokenLoaded || now - tokenLoadedAt >= options.tokenRefresh) {
      if (auto text = readFile(config.tokenFile)) {
        token = trim(std::move(text).value());
        tokenLoaded = true;
        tokenLoadedAt = now;
      }
      // An unreadable file keeps the last token: the kubelet swaps it atomically.
    }
    return token;
  }

  std::unique_ptr<Connection> newConnection() {
    auto connection = std::make_unique<Connection>();
    if (config.tls) {
      connection->secure.emplace(connection->ioc, *tlsContext);
    } else {
      connection->plain.emplace(connection->ioc);
    }
    return connection;
  }

  std::unique_ptr<Connection> acquire() {
    std::lock_guard lock(poolMutex);
    const auto now = clock.now();
    while (!idle.empty()) {
      auto connection = std::move(idle.back());
      idle.pop_back();
      if (now - connection->idleSince < options.maxIdleAge) return connection;
    }
    return nullptr;
  }

  void release(std::unique_ptr<Connection> connection) {
    connection->idleSince = clock.now();
    std::lock_guard lock(poolMutex);
    if (idle.size() < options.maxIdleConnections) idle.push_back(std::move(connection));
  }

  asio::awaitable<void> connect(Connection& connection, beast::error_code& ec, Deadline deadline = std::nullopt) {
    tcp::resolver resolver(connection.ioc);
    auto endpoints = co_await resolver.async_resolve(config.host, std::to_string(config.port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    beast::tcp_stream& lowest = connection.lowest();
    lowest.expires_after(within(options.connectTimeout, deadline));
    co_await lowest.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    enableKeepalive(lowest.socket());
    if (connection.secure) {
      if (!isIpLiteral(config.host)) {
        SSL_set_tlsext_host_name(connection.secure->native_handle(), config.host.c_str());
      }
      if (!config.insecureSkipTlsVerify) {
        connection.secure->set_verify_callback(ssl::host_name_verification(config.host));
      }
      lowest.expires_after(within(options.connectTimeout, deadline));
      co_await connection.secure->async_handshake(ssl::stream_base::client,
                                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
    connection.connected = true;
  }

  http::request<http::string_body> buildRequest(http::verb verb, std::string_view target, std::string_view body,
                                                std::string_view contentType, bool reloadToken) {
    http::request<http::string_body> req{verb, config.pathPrefix + std::string(target), 11};
    req.set(http::field::host, config.authority());
    req.set(http::field::user_agent, options.userAgent);
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    if (const std::string bearer = bearerToken(reloadToken); !bearer.empty()) {
      req.set(http::field::authorization, "Bearer " + bearer);
    }
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put || verb == http::verb::patch) {
      req.set(http::field::content_type,
              contentType.empty() ? std::string("application/json") : std::string(contentType));
      req.body() = std::string(body);
      req.prepare_payload();
    }
    return req;
  }

  template <class Stream>
  asio::awaitable<void> exchange(Stream& stream, Connection& connection, http::request<http::string_body>& req,
                                 http::response_parser<http::string_body>& parser, beast::error_code& ec,
                                 Deadline deadline) {
    connection.lowest().expires_after(within(options.requestTimeout, deadline));
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    connection.lowest().expires_after(within(options.requestTimeout, deadline));
    co_await http::async_read(stream, connection.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  }

  // Runs one request on `connection` (connecting it first if needed).
  Result<ApiResponse> perform(Connection& connection, http::request<http::string_body>& req, bool& keepAlive,
                              Deadline deadline) {
    beast::error_code ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    bool connectFailed = false;
    auto task = [&]() -> asio::awaitable<void> {
      if (!connection.connected) {
        co_await connect(connection, ec, deadline);
        if (ec) {
          connectFailed = true;
          co_return;
        }
      }
      if (connection.secure) {
        co_await exchange(*connection.secure, connection, req, parser, ec, deadline);
      } else {
        co_await exchange(*connection.plain, connection, req, parser, ec, deadline);
      }
    };
    asio::co_spawn(connection.ioc, task, asio::detached);
    connection.ioc.restart();
    connection.ioc.run();
    if (ec) {
      keepAlive = false;
      return transportError(std::string(connectFailed ? "connect to " : "request to ") + config.baseUrl(), ec);
    }
    auto& response = parser.get();
    keepAlive = response.keep_alive();
    ApiResponse out;
    out.status = static_cast<int>(response.result_int());
    out.contentType = std::string(response[http::field::content_type]);
    out.body = std::move(response.body());
    return out;
  }

  template <class Stream>
  asio::awaitable<void> streamBody(Stream& stream, Connection& connection, http::request<http::string_body>& req,
                                   std::chrono::milliseconds idleTimeout, const DataHandler& onData,
                                   ApiResponse& out, beast::error_code& ec) {
    connection.lowest().expires_after(options.requestTimeout);
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    http::response_parser<http::buffer_body> parser;
    // A watch body grows without bound. Not boost::none: Boost 1.74 compares a
    // Content-Length against an empty optional and reports "body limit exceeded".
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    connection.lowest().expires_after(options.requestTimeout);
    co_await http::async_read_header(stream, connection.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    out.status = static_cast<int>(parser.get().result_int());
    out.contentType = std::string(parser.get()[http::field::content_type]);
    const bool success = out.status >= 200 && out.status < 300;
    std::array<char, kStreamBufferBytes> chunk{};
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      connection.lowest().expires_after(success ? idleTimeout : options.requestTimeout);
      // read_some: hand over each piece as it arrives (async_read would wait for a full buffer).
      co_await http::async_read_some(stream, connection.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return;
      const std::size_t filled = chunk.size() - parser.get().body().size;
      if (filled == 0) continue;
      const std::string_view piece(chunk.data(), filled);
      if (!success) {
        if (out.body.size() < kMaxResponseBytes) out.body.append(piece);
      } else if (!onData(piece)) {
        co_return;
      }
    }
  }
};

Result<std::unique_ptr<KubernetesClient>> KubernetesClient::create(KubernetesConfig config, Options options,
                                                                   const Clock& clock) {
  auto impl = std::make_unique<Impl>(std::move(config), std::move(options), clock);
  if (auto tls = impl->loadTls(); !tls) return Error{tls.error()};
  if (!impl->config.tokenFile.empty()) {
    if (!readFile(impl->config.tokenFile)) {
      return Error{impl->config.origin + ": cannot read token file " + impl->config.tokenFile};
    }
  }
  return std::unique_ptr<KubernetesClient>(new KubernetesClient(std::move(impl)));
}

Result<std::unique_ptr<KubernetesClient>> KubernetesClient::create(KubernetesConfig config) {
  static const SteadyClock kSteady;
  return create(std::move(config), Options{}, kSteady);
}

KubernetesClient::KubernetesClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubernetesClient::~KubernetesClient() = default;

const KubernetesConfig& KubernetesClient::config() const noexcept { return impl_->config; }

Result<ApiResponse> KubernetesClient::request(std::string_view method, std::string_view target, std::string_view body,
                                              std::string_view contentType) {
  return send(method, target, body, contentType, std::nullopt);
}

Result<ApiResponse> KubernetesClient::requestWithin(std::chrono::milliseconds budget, std::string_view method,
                                                    std::string_view target, std::string_view body,
                                                    std::string_view contentType) {
  if (budget <= std::chrono::milliseconds::zero()) {
    return Error::transient(std::string(method) + " " + std::string(target) + ": no time left");
  }
  return send(method, target, body, contentType, std::chrono::steady_clock::now() + budget);
}

Result<ApiResponse> KubernetesClient::send(std::string_view method, std::string_view target, std::string_view body,
                                           std::string_view contentType, Deadline deadline) {
  const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) return Error::internal("unknown HTTP method '" + std::string(method) + "'");
  bool reloadToken = false;
  bool retriedStale = false;
  for (;;) {
    auto connection = impl_->acquire();
    const bool reused = connection != nullptr;
    if (!connection) connection = impl_->newConnection();
    auto req = impl_->buildRequest(verb, target, body, contentType, reloadToken);
    bool keepAlive = false;
    auto result = impl_->perform(*connection, req, keepAlive, deadline);
    if (!result) {
      // A pooled connection the server closed while idle: retry once on a fresh one.
      if (reused && !retriedStale && !passed(deadline)) {
        retriedStale = true;
        continue;
      }
      return result;
    }
    if (keepAlive) impl_->release(std::move(connection));
    if (result->status == 401 && !reloadToken && !impl_->config.tokenFile.empty() && !passed(deadline)) {
      reloadToken = true;  // a bound token may have rotated under us
      continue;
    }
    return result;
  }
}

Result<ApiResponse> KubernetesClient::stream(std::string_view target, const DataHandler& onData, StreamCancel& cancel,
                                             std::chrono::milliseconds idleTimeout) {
  bool reloadToken = false;
  for (;;) {
    auto connection = impl_->newConnection();
    auto req = impl_->buildRequest(http::verb::get, target, {}, {}, reloadToken);
    beast::error_code ec;
    ApiResponse out;
    bool connectFailed = false;
    auto task = [&]() -> asio::awaitable<void> {
      co_await impl_->connect(*connection, ec);
      if (ec) {
        connectFailed = true;
        co_return;
      }
      // A cancel that ran while the socket was not open yet closed nothing:
      // catch it here, on the io thread, before the first long read begins.
      if (cancel.cancelled()) co_return;
      if (connection->secure) {
        co_await impl_->streamBody(*connection->secure, *connection, req, idleTimeout, onData, out, ec);
      } else {
        co_await impl_->streamBody(*connection->plain, *connection, req, idleTimeout, onData, out, ec);
      }
    };
    Impl::Connection* raw = connection.get();
    if (!cancel.bind([raw] {
          asio::post(raw->ioc, [raw] {
            beast::error_code ignored;
            raw->lowest().socket().close(ignored);
          });
        })) {
      return Error::transient("stream cancelled");
    }
    asio::co_spawn(connection->ioc, task, asio::detached);
    connection->ioc.run();
    cancel.bind({});
    if (cancel.cancelled()) return Error::transient("stream cancelled");
    if (ec) {
      if (ec == beast::error::timeout && out.status != 0) {
        return Error::transient("stream " + std::string(target) + ": no data for " + std::to_string(idleTimeout.count()) +
                                " ms");
      }
      return transportError(std::string(connectFailed ? "connect to " : "stream from ") + impl_->config.baseUrl(), ec);
    }
    if (out.status == 401 && !reloadToken && !impl_->config.tokenFile.empty()) {
      reloadToken = true;
      continue;
    }
    return out;
  }
}

}  // namespace ringlb::op
