#include "ringlb/operator/api_server.h"

#include <fcntl.h>

#include <charconv>
#include <cstdio>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/ring/hash.h"
#include "ringlb/ring/virtual_node_ring.h"
#include "ringlb/ring/wire_format.h"

namespace ringlb::op {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using nlohmann::json;

struct ApiServer::Request {
  http::verb method = http::verb::get;
  std::string path;
  std::map<std::string, std::string> query;
};

struct ApiServer::Response {
  http::status status = http::status::ok;
  std::string contentType = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
};

namespace {

constexpr auto kDefaultWatchTimeout = std::chrono::seconds(30);
constexpr auto kMaxWatchTimeout = std::chrono::seconds(300);

std::string percentDecode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size()) {
      unsigned value = 0;
      const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec == std::errc{} && end == text.data() + i + 3) {
        out += static_cast<char>(value);
        i += 2;
      } else {
        out += text[i];
      }
    } else {
      out += text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (!pair.empty()) {
      out[percentDecode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

json errorJson(const std::string& message) { return {{"error", message}}; }

std::optional<std::uint64_t> parseUnsigned(const std::string& text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string hex(std::uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

Result<tcp::endpoint> parseListenAddress(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return Error{"--listen: '" + address + "' is not ADDR:PORT (e.g. :8081, 127.0.0.1:8081)"};
  std::string host = address.substr(0, colon);
  const std::string portText = address.substr(colon + 1);
  const auto port = parseUnsigned(portText);
  if (!port || *port > 65535) return Error{"--listen: '" + portText + "' is not a port number (0-65535)"};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) return Error{"--listen: '" + host + "' is not an IP address"};
  return tcp::endpoint(ip, static_cast<std::uint16_t>(*port));
}

ApiServer::ApiServer(asio::io_context& io, RingRegistry& registry, ApiHandlers handlers)
    : io_(io), registry_(registry), handlers_(std::move(handlers)) {
  registry_.onChange([this](const std::string& name) { asio::post(io_, [this, name] { notify(name); }); });
}

Result<tcp::endpoint> ApiServer::listen(const std::string& address) {
  auto endpoint = parseListenAddress(address);
  if (!endpoint) return endpoint;
  beast::error_code ec;
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  acceptor->open(endpoint->protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint.value(), ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"--listen " + address + ": " + ec.message()};
  // Replicas are spawned with every descriptor above 2 closed, but be explicit:
  // a leaked listener would block the next operator from binding.
  ::fcntl(acceptor->native_handle(), F_SETFD, FD_CLOEXEC);
  const tcp::endpoint bound = acceptor->local_endpoint();
  acceptor_ = std::move(acceptor);
  asio::co_spawn(io_, acceptLoop(), asio::detached);
  return bound;
}

void ApiServer::close() {
  asio::post(io_, [this] {
    closed_ = true;
    if (acceptor_) {
      beast::error_code ec;
      acceptor_->close(ec);
    }
    for (auto& [name, watcher] : watchers_) {
      if (auto timer = watcher.lock()) timer->cancel();
    }
    watchers_.clear();
  });
}

void ApiServer::notify(const std::string& name) {
  const auto [begin, end] = watchers_.equal_range(name);
  for (auto it = begin; it != end; ++it) {
    if (auto timer = it->second.lock()) timer->cancel();
  }
  watchers_.erase(begin, end);
}

asio::awaitable<void> ApiServer::acceptLoop() {
  while (!closed_) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor_->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || closed_) co_return;
      continue;  // EMFILE and friends: keep serving the connections we have
    }
    ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    asio::co_spawn(io_, session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> ApiServer::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    beast::error_code ec;
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    stream.expires_after(std::chrono::seconds(120));
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // end_of_stream, timeout, or a malformed request: close
    const auto& message = parser.get();
    Request request;
    request.method = message.method();
    const std::string_view target(message.target().data(), message.target().size());
    const auto question = target.find('?');
    request.path = percentDecode(target.substr(0, question));
    if (question != std::string_view::npos) request.query = parseQuery(target.substr(question + 1));
    stream.expires_never();
    Response response = co_await handle(request);
    http::response<http::string_body> reply{response.status, message.version()};
    reply.set(http::field::server, "ringlb-operator");
    reply.set(http::field::content_type, response.contentType);
    reply.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : response.headers) reply.set(name, value);
    reply.keep_alive(message.keep_alive());
    reply.body() = std::move(response.body);
    reply.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    co_await http::async_write(stream, reply, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !reply.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<ApiServer::Response> ApiServer::watch(const std::string& name, std::uint64_t known,
                                                     std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto ring = registry_.get(name);
    if (!ring) co_return Response{http::status::not_found, "application/json", errorJson("no ring '" + name + "'").dump(), {}};
    if (ring->version() > known) {
      co_return Response{http::status::ok, "application/json", ring::serializeRing(ring->spec()),
                         {{"X-Ring-Version", std::to_string(ring->version())}}};
    }
    if (closed_ || std::chrono::steady_clock::now() >= deadline) {
      co_return Response{http::status::not_modified, "application/json", "",
                         {{"X-Ring-Version", std::to_string(ring->version())}}};
    }
    auto timer = std::make_shared<asio::steady_timer>(io_);
    timer->expires_at(deadline);
    watchers_.emplace(name, timer);
    beast::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    timer.reset();
    // Watches that timed out leave expired entries behind; drop them here so a
    // ring that never changes does not accumulate them.
    const auto [begin, end] = watchers_.equal_range(name);
    for (auto it = begin; it != end;) it = it->second.expired() ? watchers_.erase(it) : std::next(it);
  }
}

asio::awaitable<ApiServer::Response> ApiServer::handle(const Request& request) {
  const auto jsonResponse = [](http::status status, const json& body) {
    return Response{status, "application/json", body.dump(), {}};
  };
  if (request.method != http::verb::get) {
    Response response = jsonResponse(http::status::method_not_allowed, errorJson("only GET is supported"));
    response.headers["Allow"] = "GET";
    co_return response;
  }
  const std::string& path = request.path;
  if (path == "/healthz") co_return Response{http::status::ok, "text/plain; charset=utf-8", "ok\n", {}};
  if (path == "/readyz") {
    bool ready = true;
    std::string explanation = "ok";
    if (handlers_.readiness) {
      Result<std::string> readiness = handlers_.readiness();
      ready = readiness.ok();
      explanation = ready ? readiness.value() : readiness.error();
    }
    co_return Response{ready ? http::status::ok : http::status::service_unavailable, "text/plain; charset=utf-8",
                       explanation + "\n", {}};
  }
  if (path == "/metrics") {
    co_return Response{http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                       handlers_.metrics ? handlers_.metrics() : std::string(), {}};
  }
  if (path == "/" || path == "/index.html") {
    co_return Response{http::status::ok, "text/html; charset=utf-8", std::string(statusPageHtml()), {}};
  }
  if (path == "/v1/status") co_return jsonResponse(http::status::ok, handlers_.status ? handlers_.status() : json::object());
  if (path == "/v1/rings" || path == "/v1/rings/") {
    json rings = json::array();
    for (const auto& key : registry_.keys()) {
      const auto ring = registry_.get(key);
      if (!ring) continue;
      json entry = ring::ringToJson(ring->spec());
      entry["namespace"] = ringNamespaceOf(key);
      rings.push_back(std::move(entry));
    }
    co_return jsonResponse(http::status::ok, {{"rings", rings}});
  }
  static constexpr std::string_view kPrefix = "/v1/rings/";
  if (path.rfind(kPrefix, 0) != 0) co_return jsonResponse(http::status::not_found, errorJson("no such endpoint: " + path));
  const auto route = parseRingRoute(path.substr(kPrefix.size()));
  if (!route) co_return jsonResponse(http::status::not_found, errorJson("no such endpoint: " + path));
  auto key = registry_.resolve(route->ref);
  if (!key) {
    const bool ambiguous = key.errorKind() == ErrorKind::Conflict;
    co_return jsonResponse(ambiguous ? http::status::conflict : http::status::not_found, errorJson(key.error()));
  }
  if (route->view == RingView::Explain) co_return explain(key.value(), request);
  if (route->view == RingView::Points) co_return points(key.value());
  if (const auto watchParam = request.query.find("watch"); watchParam != request.query.end()) {
    const auto known = parseUnsigned(watchParam->second);
    if (!known) {
      co_return jsonResponse(http::status::bad_request,
                             errorJson("watch: '" + watchParam->second + "' is not a version (a non-negative integer)"));
    }
    auto timeout = kDefaultWatchTimeout;
    if (const auto t = request.query.find("timeoutSeconds"); t != request.query.end()) {
      const auto seconds = parseUnsigned(t->second);
      if (!seconds) {
        co_return jsonResponse(http::status::bad_request,
                               errorJson("timeoutSeconds: '" + t->second + "' is not a non-negative integer"));
      }
      timeout = std::min(std::chrono::seconds(*seconds), kMaxWatchTimeout);
    }
    co_return co_await watch(key.value(), *known, timeout);
  }
  const auto ring = registry_.get(key.value());
  if (!ring) co_return jsonResponse(http::status::not_found, errorJson("no ring '" + key.value() + "'"));
  co_return Response{http::status::ok, "application/json", ring::serializeRing(ring->spec()),
                     {{"X-Ring-Version", std::to_string(ring->version())}}};
}

std::optional<ApiServer::RingRoute> ApiServer::parseRingRoute(const std::string& rest) const {
  std::vector<std::string> segments;
  std::size_t begin = 0;
  for (;;) {
    const auto slash = rest.find('/', begin);
    segments.push_back(rest.substr(begin, slash == std::string::npos ? std::string::npos : slash - begin));
    if (slash == std::string::npos) break;
    begin = slash + 1;
  }
  for (const auto& segment : segments) {
    if (segment.empty()) return std::nullopt;
  }
  const auto viewOf = [](const std::string& segment) -> std::optional<RingView> {
    if (segment == "explain") return RingView::Explain;
    if (segment == "points") return RingView::Points;
    return std::nullopt;
  };
  if (segments.size() == 1) return RingRoute{segments[0], RingView::Ring};
  if (segments.size() == 3) {
    if (const auto view = viewOf(segments[2])) return RingRoute{segments[0] + "/" + segments[1], *view};
    return std::nullopt;
  }
  if (segments.size() != 2) return std::nullopt;
  // "{name}/explain", unless a namespace holds a ring that is itself named "explain" (or "points").
  if (const auto view = viewOf(segments[1]); view && !registry_.get(rest)) return RingRoute{segments[0], *view};
  return RingRoute{rest, RingView::Ring};
}

ApiServer::Response ApiServer::explain(const std::string& key, const Request& request) const {
  const auto jsonResponse = [](http::status status, const json& body) {
    return Response{status, "application/json", body.dump(), {}};
  };
  const auto keyParam = request.query.find("key");
  if (keyParam == request.query.end()) return jsonResponse(http::status::bad_request, errorJson("key: missing query parameter"));
  const auto ring = registry_.get(key);
  if (!ring) return jsonResponse(http::status::not_found, errorJson("no ring '" + key + "'"));
  const std::uint64_t hash = ring::hashKey(keyParam->second);
  json walk = json::array();
  std::optional<std::uint32_t> pick;
  auto successors = ring->walk(hash);
  while (auto index = successors.next()) {
    const auto& member = ring->members()[*index];
    walk.push_back({{"id", member.id}, {"address", member.address}, {"state", ring::toString(member.state)},
                    {"share", ring->shares()[*index]}});
    if (!pick && ring->isReady(*index)) pick = *index;
  }
  json body = {{"ring", ringNameOf(key)}, {"namespace", ringNamespaceOf(key)}, {"version", ring->version()},
               {"key", keyParam->second}, {"hash", hex(hash)}, {"owner", nullptr}, {"pick", nullptr}, {"walk", walk}};
  if (const auto owner = ring->owner(hash)) body["owner"] = ring->members()[*owner].id;
  if (pick) body["pick"] = ring->members()[*pick].id;
  Response response = jsonResponse(http::status::ok, body);
  response.headers["X-Ring-Version"] = std::to_string(ring->version());
  return response;
}

ApiServer::Response ApiServer::points(const std::string& key) const {
  const auto ring = registry_.get(key);
  if (!ring) return {http::status::not_found, "application/json", errorJson("no ring '" + key + "'").dump(), {}};
  const auto& spec = ring->spec();
  json members = json::array();
  for (std::size_t i = 0; i < spec.members.size(); ++i) {
    members.push_back({{"id", spec.members[i].id}, {"state", ring::toString(spec.members[i].state)},
                       {"weight", spec.members[i].weight}, {"share", ring->shares()[i]}});
  }
  json body = {{"ring", ringNameOf(key)}, {"namespace", ringNamespaceOf(key)}, {"version", ring->version()},
               {"algorithm", ring::toString(spec.algorithm)}, {"members", members}};
  if (spec.algorithm == ring::Algorithm::Ring) {
    // Each member's points, as the top 16 bits of their hashes: enough to draw, and a 100-member ring stays small.
    for (std::size_t i = 0; i < spec.members.size(); ++i) {
      json positions = json::array();
      const std::uint64_t count = std::uint64_t{spec.virtualNodes} * spec.members[i].weight;
      for (std::uint64_t k = 0; k < count; ++k) {
        positions.push_back(ring::VirtualNodeRing::pointHash(spec.members[i].id, k) >> 48);
      }
      body["members"][i]["points"] = std::move(positions);
    }
  } else {
    constexpr std::uint32_t kSamples = 4096;
    json owners = json::array();
    for (std::uint32_t s = 0; s < kSamples; ++s) {
      const auto owner = ring->owner((std::uint64_t{s} << 52) + (std::uint64_t{1} << 51));
      owners.push_back(owner ? json(*owner) : json(nullptr));
    }
    body["owners"] = std::move(owners);
  }
  Response response{http::status::ok, "application/json", body.dump(), {}};
  response.headers["X-Ring-Version"] = std::to_string(ring->version());
  return response;
}

}  // namespace ringlb::op
