#include "admin_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include "accept_backoff.h"
#include "member_picker.h"
#include "proxy_metrics.h"
#include "ring_store.h"
#include "ringlb/ring/hash.h"

namespace ringlb::proxy {

namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

namespace {

std::string_view queryValue(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

AdminResponse jsonResponse(unsigned status, const json& body) {
  return {status, "application/json", body.dump(2) + "\n"};
}

}  // namespace

std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

AdminServer::AdminServer(asio::io_context& ioc, const RingStore& store, ProxyMetrics& metrics,
                         const std::atomic<bool>& draining)
    : ioc_(ioc), store_(store), metrics_(metrics), draining_(draining) {}

asio::ip::tcp::endpoint AdminServer::listen(const HostPort& address) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(address.host), address.port);
  acceptor_.emplace(ioc_);
  acceptor_->open(endpoint.protocol());
  acceptor_->set_option(asio::socket_base::reuse_address(true));
  acceptor_->bind(endpoint);
  acceptor_->listen();
  return acceptor_->local_endpoint();
}

void AdminServer::start() {
  asio::co_spawn(ioc_, acceptLoop(), [](std::exception_ptr) {});
}

void AdminServer::stop() {
  error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

AdminResponse AdminServer::handle(std::string_view method, std::string_view target) const {
  if (method != "GET" && method != "HEAD") return {405, "text/plain; charset=utf-8", "only GET is supported\n"};
  const auto question = target.find('?');
  const auto path = target.substr(0, question);
  const auto query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  const auto table = store_.current();
  const auto now = monotonicNanos();

  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    if (draining_.load()) return {503, "text/plain; charset=utf-8", "draining\n"};
    if (!table) return {503, "text/plain; charset=utf-8", "no ring loaded\n"};
    if (table->ring->readyCount() == 0) return {503, "text/plain; charset=utf-8", "no member of the ring is Ready\n"};
    return {200, "text/plain; charset=utf-8", "ready\n"};
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", prometheus::TextSerializer().Serialize(metrics_.Collect())};
  }
  if (path == "/ring") {
    if (!table) return jsonResponse(503, {{"error", "no ring loaded"}});
    const auto& spec = table->ring->spec();
    json members = json::array();
    for (std::size_t i = 0; i < spec.members.size(); ++i) {
      const auto& m = spec.members[i];
      members.push_back({{"id", m.id},
                         {"address", m.address},
                         {"weight", m.weight},
                         {"state", std::string(ring::toString(m.state))},
                         {"share", table->ring->shares()[i]},
                         {"ejected", table->routes[i].health->ejected(now)},
                         {"resolved", table->routes[i].endpoint.has_value()}});
    }
    json key = {{"source", std::string(ring::toString(table->key.source))}};
    if (!table->key.name.empty()) key["name"] = table->key.name;
    return jsonResponse(200, {{"name", spec.name},
                              {"version", spec.version},
                              {"algorithm", std::string(ring::toString(spec.algorithm))},
                              {"virtualNodes", spec.virtualNodes},
                              {"loadFactor", spec.loadFactor},
                              {"key", key},
                              {"protocol", std::string(ring::toString(spec.protocol))},
                              {"source", table->source},
                              {"stalenessSeconds", store_.stalenessSeconds(now)},
                              {"members", members}});
  }
  if (path == "/explain") {
    if (query.find("key=") == std::string_view::npos) return jsonResponse(400, {{"error", "missing query parameter key"}});
    const std::string key = percentDecode(queryValue(query, "key"));
    if (!table) return jsonResponse(503, {{"error", "no ring loaded"}});
    const auto hash = ring::hashKey(key);
    const auto explanation = explainPick(*table, hash, nullptr, now);
    json chain = json::array();
    for (const auto& step : explanation.chain) {
      chain.push_back({{"member", step.id}, {"address", step.address}, {"state", step.state}, {"chosen", step.chosen},
                       {"reason", step.reason}});
    }
    char hex[19];
    std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(hash));
    // A hot key (--hot-key-share) goes in turn to the first `spread` eligible members of its walk.
    const std::uint32_t spread = metrics_.hotKeys.spreadOf(hash, now);
    json hot = spread == 0 ? json(nullptr)
                           : json{{"spreadOver", spread},
                                  {"note", "a worker spread this key within the last second: its requests go in turn to "
                                           "the first " + std::to_string(spread) + " eligible members of its walk"}};
    return jsonResponse(200, {{"key", key},
                              {"hot", hot},
                              {"hash", hex},
                              {"hashDecimal", hash},
                              {"ringVersion", table->ring->version()},
                              {"owner", explanation.owner ? json(*explanation.owner) : json(nullptr)},
                              {"chosen", explanation.chosen ? json(*explanation.chosen) : json(nullptr)},
                              {"chain", chain},
                              {"note", "in-flight counts are per worker thread and not included; bounded loads may spill under load"}});
  }
  return {404, "text/plain; charset=utf-8", "not found; try /metrics /healthz /readyz /ring /explain?key=K\n"};
}

Task<void> AdminServer::acceptLoop() {
  // Out of descriptors, a scrape or a probe waiting in the backlog would
  // otherwise make this loop spin on the control thread.
  AcceptBackoff backoff;
  for (;;) {
    error_code ec;
    TcpSocket socket(ioc_);
    co_await acceptor_->async_accept(socket, noThrow(ec));
    if (ec) {
      if (!acceptor_->is_open() || ec == asio::error::operation_aborted) co_return;
      const auto step = backoff.onFailure(ec.category() == asio::error::get_system_category() ? ec.value() : 0);
      if (step.logIt) spdlog::warn("admin: accept failed: {}; backing off", ec.message());
      if (step.pause.count() != 0) {
        SteadyTimer pause(ioc_);
        pause.expires_after(step.pause);
        co_await pause.async_wait(noThrow(ec));
      }
      continue;
    }
    backoff.onSuccess();
    asio::co_spawn(ioc_, serve(std::move(socket)), [](std::exception_ptr) {});
  }
}

Task<void> AdminServer::serve(TcpSocket socket) {
  beast::flat_buffer buffer;
  SteadyTimer timer(ioc_);
  for (;;) {
    error_code ec;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    timer.expires_after(std::chrono::seconds(30));
    timer.async_wait([&socket](error_code e) {
      if (!e) socket.cancel();
    });
    co_await http::async_read(socket, buffer, parser, noThrow(ec));
    timer.cancel();
    if (ec) break;
    const auto& request = parser.get();
    const auto result = handle(std::string_view(request.method_string().data(), request.method_string().size()),
                               std::string_view(request.target().data(), request.target().size()));
    http::response<http::string_body> response{static_cast<http::status>(result.status), request.version()};
    response.set(http::field::content_type, result.contentType);
    response.set(http::field::cache_control, "no-store");
    response.body() = request.method() == http::verb::head ? std::string() : result.body;
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    if (request.method() == http::verb::head) response.content_length(result.body.size());
    co_await http::async_write(socket, response, noThrow(ec));
    if (ec || !request.keep_alive()) break;
  }
  error_code ignored;
  socket.shutdown(asio::socket_base::shutdown_both, ignored);
}

}  // namespace ringlb::proxy
