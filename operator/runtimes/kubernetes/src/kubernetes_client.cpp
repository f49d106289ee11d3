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
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "ringlb/operator/exec_credential_plugin.h"
#include "ringlb/operator/token_bucket.h"

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

// A file's identity and version: a rotated CA is a new file (renamed into
// place, as the kubelet and cert-manager do) or new content.
struct FileStamp {
  std::filesystem::file_time_type modified{};
  std::uintmax_t size = 0;
  ino_t inode = 0;

  bool operator==(const FileStamp&) const = default;
};

std::optional<FileStamp> stampOf(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::nullopt;
  std::error_code ec;
  FileStamp stamp;
  stamp.modified = std::filesystem::last_write_time(path, ec);
  stamp.size = static_cast<std::uintmax_t>(info.st_size);
  stamp.inode = info.st_ino;
  return stamp;
}

// A 429 was refused before any work (API priority and fairness): safe to
// resend whatever the method. A 503 may come from the middle of a request,
// so only requests that are safe to repeat are resent.
bool repeatable(http::verb verb, std::string_view contentType) {
  switch (verb) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::put:
    case http::verb::delete_: return true;
    case http::verb::patch: return contentType == "application/apply-patch+yaml";
    default: return false;
  }
}

std::optional<std::chrono::seconds> parseRetryAfter(beast::string_view header) {
  if (header.empty()) return std::nullopt;
  long seconds = 0;
  const auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
  if (ec != std::errc() || end != header.data() + header.size() || seconds < 0) return std::nullopt;
  return std::chrono::seconds(seconds);
}

}  // namespace

struct KubernetesClient::Impl {
  KubernetesConfig config;
  Options options;
  const Clock& clock;

  // What a request authenticates with: a bearer token and/or a client certificate from an exec plugin.
  struct Credentials {
    std::string token;
    std::string clientCertificate;
    std::string clientKey;
  };

  std::mutex tokenMutex;
  std::string token;
  Clock::TimePoint tokenLoadedAt{};
  bool tokenLoaded = false;

  std::optional<ExecCredentialPlugin> execPlugin;
  std::mutex execMutex;  // held while the plugin runs: concurrent requests wait for one answer
  std::optional<ExecCredential> execCredential;

  // The TLS context of new connections, rebuilt when the CA file or the exec
  // plugin's certificate changes; a connection keeps the one it was made with.
  std::mutex tlsMutex;
  std::shared_ptr<ssl::context> tlsContext;
  std::optional<FileStamp> caStamp;
  std::string tlsClientCertificate;

  std::mutex limiterMutex;
  std::optional<TokenBucket> limiter;

  struct Connection {
    std::shared_ptr<ssl::context> tls;  // outlives `secure`, which refers to it
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

  Impl(KubernetesConfig c, Options o, const Clock& k) : config(std::move(c)), options(std::move(o)), clock(k) {
    if (options.qps > 0) limiter.emplace(options.qps, std::max(1, options.burst));
    if (config.exec.configured()) execPlugin.emplace(config, options.execTimeout);
  }

  // A TLS client context verifying against the CA (the file is read now) and
  // presenting the configured client certificate, or `credentials`' one.
  Result<std::shared_ptr<ssl::context>> buildTls(const Credentials& credentials) const {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    beast::error_code ec;
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (config.insecureSkipTlsVerify) {
      context->set_verify_mode(ssl::verify_none);
    } else {
      context->set_verify_mode(ssl::verify_peer);
      if (!config.caData.empty()) {
        context->add_certificate_authority(asio::buffer(config.caData), ec);
        if (ec) return Error{config.origin + ": certificate-authority-data: " + ec.message()};
      } else if (!config.caFile.empty()) {
        context->load_verify_file(config.caFile, ec);
        if (ec) return Error{config.origin + ": certificate-authority " + config.caFile + ": " + ec.message()};
      } else {
        context->set_default_verify_paths(ec);
      }
    }
    if (!credentials.clientCertificate.empty()) {
      context->use_certificate_chain(asio::buffer(credentials.clientCertificate), ec);
      if (ec) return Error{execPlugin->command() + ": status.clientCertificateData: " + ec.message()};
      context->use_private_key(asio::buffer(credentials.clientKey), ssl::context::pem, ec);
      if (ec) return Error{execPlugin->command() + ": status.clientKeyData: " + ec.message()};
      return context;
    }
    if (!config.clientCertData.empty()) {
      context->use_certificate_chain(asio::buffer(config.clientCertData), ec);
      if (ec) return Error{config.origin + ": client-certificate-data: " + ec.message()};
    } else if (!config.clientCertFile.empty()) {
      context->use_certificate_chain_file(config.clientCertFile, ec);
      if (ec) return Error{config.origin + ": client-certificate " + config.clientCertFile + ": " + ec.message()};
    }
    if (!config.clientKeyData.empty()) {
      context->use_private_key(asio::buffer(config.clientKeyData), ssl::context::pem, ec);
      if (ec) return Error{config.origin + ": client-key-data: " + ec.message()};
    } else if (!config.clientKeyFile.empty()) {
      context->use_private_key_file(config.clientKeyFile, ssl::context::pem, ec);
      if (ec) return Error{config.origin + ": client-key " + config.clientKeyFile + ": " + ec.message()};
    }
    return context;
  }

  bool watchesCaFile() const { return config.tls && !config.insecureSkipTlsVerify && config.caData.empty() && !config.caFile.empty(); }

  // The context for a new connection: rebuilt when the CA file changed since
  // the last build (a rotated CA) or the exec plugin handed out another
  // certificate. A CA file caught half-written keeps the last good context
  // until the file changes again.
  Result<std::shared_ptr<ssl::context>> currentTls(const Credentials& credentials) {
    std::lock_guard lock(tlsMutex);
    const std::optional<FileStamp> stamp = watchesCaFile() ? stampOf(config.caFile) : std::nullopt;
    if (tlsContext && stamp == caStamp && credentials.clientCertificate == tlsClientCertificate) return tlsContext;
    auto built = buildTls(credentials);
    if (!built) {
      if (!tlsContext) return built;
      spdlog::warn("Kubernetes client: keeping the previous TLS settings: {}", built.error());
      caStamp = stamp;
      return tlsContext;
    }
    if (tlsContext && stamp != caStamp) spdlog::info("Kubernetes client: CA file {} changed; new connections use it", config.caFile);
    tlsContext = std::move(built).value();
    caStamp = stamp;
    tlsClientCertificate = credentials.clientCertificate;
    return tlsContext;
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

  // The exec plugin's credential, run again once it expired or when forced (after a 401).
  Result<ExecCredential> pluginCredential(bool forceRerun) {
    std::lock_guard lock(execMutex);
    const bool expired = execCredential && execCredential->expiration &&
                         std::chrono::system_clock::now() >= *execCredential->expiration;
    if (execCredential && !forceRerun && !expired) return *execCredential;
    auto fresh = execPlugin->run();
    if (!fresh) {
      execCredential.reset();
      return fresh;
    }
    execCredential = fresh.value();
    return fresh;
  }

  Result<Credentials> credentials(bool refresh) {
    Credentials out;
    if (execPlugin) {
      auto credential = pluginCredential(refresh);
      if (!credential) return credential.failure();
      out.token = credential->token;
      out.clientCertificate = credential->clientCertificateData;
      out.clientKey = credential->clientKeyData;
      if (!out.token.empty() || !out.clientCertificate.empty()) return out;
    }
    out.token = bearerToken(refresh);
    return out;
  }

  bool canRefreshCredentials() const { return execPlugin.has_value() || !config.tokenFile.empty(); }

  // Waits for a token of the shared bucket; gives up (Transient) rather than
  // wait past `deadline`.
  Status throttle(const Deadline& deadline) {
    if (!limiter) return ok();
    std::optional<Clock::Duration> wait;
    {
      std::lock_guard lock(limiterMutex);
      const auto now = clock.now();
      const auto maxWait = deadline ? *deadline - std::chrono::steady_clock::now() : Clock::Duration::max();
      wait = limiter->reserveWithin(now, maxWait);
    }
    if (!wait) {
      return Error::transient("client rate limit (QPS " + std::to_string(options.qps) + ", burst " +
                              std::to_string(options.burst) + ") would delay past the request's deadline");
    }
    if (*wait > Clock::Duration::zero()) {
      if (options.onThrottled) options.onThrottled(std::chrono::duration_cast<std::chrono::milliseconds>(*wait));
      std::this_thread::sleep_for(*wait);
    }
    return ok();
  }

  // How long to wait before resending after `response`, or nullopt to return it:
  // a 429, or a 503 with Retry-After to a request safe to repeat, within the
  // retry budget and the deadline.
  std::optional<std::chrono::milliseconds> retryAfter(http::verb verb, std::string_view contentType,
                                                      const ApiResponse& response,
                                                      std::optional<std::chrono::seconds> asked, int retries,
                                                      const Deadline& deadline) const {
    if (retries >= options.maxRetryAfterRetries) return std::nullopt;
    const bool tooMany = response.status == 429;
    const bool unavailable = response.status == 503 && asked && repeatable(verb, contentType);
    if (!tooMany && !unavailable) return std::nullopt;
    const std::chrono::milliseconds wait =
        std::min<std::chrono::milliseconds>(asked.value_or(std::chrono::seconds(1)), options.maxRetryAfter);
    if (deadline && std::chrono::steady_clock::now() + wait >= *deadline) return std::nullopt;
    return wait;
  }

  std::unique_ptr<Connection> newConnection(std::shared_ptr<ssl::context> tls) {
    auto connection = std::make_unique<Connection>();
    if (config.tls) {
      connection->tls = std::move(tls);
      connection->secure.emplace(connection->ioc, *connection->tls);
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
                                                std::string_view contentType, const std::string& bearer) {
    http::request<http::string_body> req{verb, config.pathPrefix + std::string(target), 11};
    req.set(http::field::host, config.authority());
    req.set(http::field::user_agent, options.userAgent);
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    if (!bearer.empty()) {
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

  // Runs one request on `connection` (connecting it first if needed); sets
  // `retryAfter` from the answer's Retry-After header.
  Result<ApiResponse> perform(Connection& connection, http::request<http::string_body>& req, bool& keepAlive,
                              std::optional<std::chrono::seconds>& retryAfter, Deadline deadline) {
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
    retryAfter = parseRetryAfter(response[http::field::retry_after]);
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
  // Checked now so a bad CA or client certificate fails at startup; an exec
  // plugin's certificate is added when it first runs.
  if (impl->config.tls) {
    if (auto tls = impl->currentTls({}); !tls) return tls.failure();
  }
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
  const auto what = [&] { return std::string(method) + " " + std::string(target); };
  bool refreshCredentials = false;
  bool retriedStale = false;
  bool needToken = true;
  int retryAfterRetries = 0;
  for (;;) {
    if (needToken) {
      if (auto waited = impl_->throttle(deadline); !waited) return waited.failure().withContext(what());
    }
    needToken = true;
    auto credentials = impl_->credentials(refreshCredentials);
    if (!credentials) return credentials.failure().withContext(what());
    auto connection = impl_->acquire();
    const bool reused = connection != nullptr;
    if (!connection) {
      std::shared_ptr<ssl::context> tls;
      if (impl_->config.tls) {
        auto current = impl_->currentTls(credentials.value());
        if (!current) return current.failure().withContext(what());
        tls = std::move(current).value();
      }
      connection = impl_->newConnection(std::move(tls));
    }
    auto req = impl_->buildRequest(verb, target, body, contentType, credentials->token);
    bool keepAlive = false;
    std::optional<std::chrono::seconds> retryAfter;
    auto result = impl_->perform(*connection, req, keepAlive, retryAfter, deadline);
    if (!result) {
      // A pooled connection the server closed while idle: retry once on a fresh one.
      if (reused && !retriedStale && !passed(deadline)) {
        retriedStale = true;
        needToken = false;
        continue;
      }
      return result;
    }
    if (keepAlive) impl_->release(std::move(connection));
    if (impl_->options.onResponse) impl_->options.onResponse(method, result->status);
    if (result->status == 401 && !refreshCredentials && impl_->canRefreshCredentials() && !passed(deadline)) {
      refreshCredentials = true;  // a bound token may have rotated, or the plugin's credential was revoked
      continue;
    }
    if (const auto wait = impl_->retryAfter(verb, contentType, result.value(), retryAfter, retryAfterRetries, deadline)) {
      ++retryAfterRetries;
      if (impl_->options.onRetryAfter) impl_->options.onRetryAfter(result->status, *wait);
      std::this_thread::sleep_for(*wait);
      continue;
    }
    return result;
  }
}

Result<ApiResponse> KubernetesClient::stream(std::string_view target, const DataHandler& onData, StreamCancel& cancel,
                                             std::chrono::milliseconds idleTimeout) {
  bool refreshCredentials = false;
  for (;;) {
    // A watch takes a token per (re)connect; its events are one response.
    if (auto waited = impl_->throttle(std::nullopt); !waited) return waited.failure();
    if (cancel.cancelled()) return Error::transient("stream cancelled");
    auto credentials = impl_->credentials(refreshCredentials);
    if (!credentials) return credentials.failure().withContext("watch " + std::string(target));
    std::shared_ptr<ssl::context> tls;
    if (impl_->config.tls) {
      auto current = impl_->currentTls(credentials.value());
      if (!current) return current.failure();
      tls = std::move(current).value();
    }
    auto connection = impl_->newConnection(std::move(tls));
    auto req = impl_->buildRequest(http::verb::get, target, {}, {}, credentials->token);
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
    if (impl_->options.onResponse) impl_->options.onResponse("WATCH", out.status);
    if (out.status == 401 && !refreshCredentials && impl_->canRefreshCredentials()) {
      refreshCredentials = true;
      continue;
    }
    return out;
  }
}

}  // namespace ringlb::op
