#include "ringlb/apod/request_router.h"

#include <charconv>
#include <chrono>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace ringlb::apod {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

constexpr std::string_view kApiPath = "/planetary/apod";
constexpr std::string_view kAdminPrefix = "/admin/";
constexpr auto kServerName = "ringlb-apod";

// Beast 1.74 uses boost::string_view.
std::string_view toStd(boost::beast::string_view text) { return {text.data(), text.size()}; }
boost::beast::string_view toBeast(std::string_view text) { return {text.data(), text.size()}; }

bool isGetOrHead(const HttpRequest& request) {
  return request.method() == http::verb::get || request.method() == http::verb::head;
}

// Header values must not carry line breaks; upstream error texts are not ours to trust.
std::string headerSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  return out;
}

std::string errorBody(unsigned status, const std::string& message) { return ApiReply::error(status, message).body; }

}  // namespace

RequestRouter::RequestRouter(RouterConfig config, const ApodService& offline, UpstreamForwarder* upstream,
                             FaultInjector& faults, ApodMetrics& metrics, std::function<void()> crash)
    : config_{std::move(config)},
      offline_{offline},
      upstream_{upstream},
      faults_{faults},
      metrics_{metrics},
      crash_{std::move(crash)} {}

asio::awaitable<HttpResponse> RequestRouter::handle(HttpRequest request) {
  const auto started = std::chrono::steady_clock::now();
  auto response = co_await route(request);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
  metrics_.observeRequest(response.result_int(), elapsed.count());
  spdlog::debug("{} {} -> {} in {:.3f} ms", toStd(request.method_string()),
                toStd(request.target()), response.result_int(), elapsed.count() * 1e3);
  co_return response;
}

HttpResponse RequestRouter::reject(http::status status, std::string_view reason) {
  HttpResponse response{status, 11};
  response.set(http::field::server, kServerName);
  response.set("X-Served-By", config_.slot);
  response.set(http::field::content_type, "application/json");
  response.body() = errorBody(static_cast<unsigned>(status),
                              std::string(toStd(http::obsolete_reason(status))) + ": " + std::string(reason));
  response.prepare_payload();
  metrics_.observeRequest(static_cast<unsigned>(status), 0.0);
  return response;
}

asio::awaitable<HttpResponse> RequestRouter::route(const HttpRequest& request) {
  // No structured binding: GCC 12 mishandles them across suspension points.
  const auto split = QueryParams::splitTarget(toStd(request.target()));
  const std::string_view path = split.first;
  const QueryParams& params = split.second;

  if (path == kApiPath || path == "/planetary/apod/") {
    if (!isGetOrHead(request)) co_return methodNotAllowed(request, "GET, HEAD");
    auto response = co_await api(request, params);
    co_return response;
  }
  if (path == "/healthz") {
    if (!isGetOrHead(request)) co_return methodNotAllowed(request, "GET, HEAD");
    co_return health(request);
  }
  if (path == "/metrics") {
    if (!isGetOrHead(request)) co_return methodNotAllowed(request, "GET, HEAD");
    co_return text(request, 200, metrics_.serialize(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (config_.faultsEnabled && path.starts_with(kAdminPrefix)) {
    const auto action = path.substr(kAdminPrefix.size());
    if (action == "fail" || action == "recover" || action == "crash" || action == "slow") {
      if (request.method() != http::verb::post) co_return methodNotAllowed(request, "POST");
      co_return admin(request, action, params);
    }
  }
  co_return json(request, 404, errorBody(404, "Not Found: no route for " + std::string(path)));
}

asio::awaitable<HttpResponse> RequestRouter::api(const HttpRequest& request, const QueryParams& params) {
  if (const auto delay = faults_.slowDelay(); delay.count() > 0) {
    asio::steady_timer timer{co_await asio::this_coro::executor, delay};
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  // Not a conditional expression: GCC 12 destroys temporaries twice around a co_await in ?:.
  SourcedReply answer;
  if (upstream_ != nullptr) {
    answer = co_await upstream_->answer(params);
  } else {
    answer = SourcedReply{offline_.answer(params), ReplySource::kOffline, {}};
  }
  auto response = json(request, answer.reply.status, std::move(answer.reply.body));
  response.set("X-Apod-Source", toString(answer.source));
  if (!answer.upstreamError.empty()) {
    spdlog::warn("upstream failed, answered from the offline dataset: {}", answer.upstreamError);
    response.set("X-Apod-Upstream-Error", headerSafe(answer.upstreamError));
  }
  co_return response;
}

HttpResponse RequestRouter::health(const HttpRequest& request) const {
  if (draining_.load(std::memory_order_relaxed)) return text(request, 503, "draining\n", "text/plain");
  if (faults_.failing()) return text(request, 503, "failing\n", "text/plain");
  return text(request, 200, "ok\n", "text/plain");
}

HttpResponse RequestRouter::admin(const HttpRequest& request, std::string_view action, const QueryParams& params) {
  if (action == "fail" || action == "recover") {
    faults_.setFailing(action == "fail");
    spdlog::warn("fault injection: health is now {}", action == "fail" ? "failing" : "ok");
    return json(request, 200, nlohmann::json{{"failing", faults_.failing()}}.dump());
  }
  if (action == "crash") {
    spdlog::critical("fault injection: crashing on request");
    crash_();
    return json(request, 202, nlohmann::json{{"crashing", true}}.dump());
  }
  // slow
  const auto ms = params.first("ms");
  std::uint32_t value = 0;
  const bool valid = ms && !ms->empty() &&
                     std::from_chars(ms->data(), ms->data() + ms->size(), value).ptr == ms->data() + ms->size() &&
                     value <= FaultInjector::kMaxSlowMs;
  if (!valid) {
    return json(request, 400,
                errorBody(400, "query parameter 'ms' must be an integer in 0-" +
                                   std::to_string(FaultInjector::kMaxSlowMs) + ", got " +
                                   (ms ? pythonRepr(*ms) : std::string("nothing"))));
  }
  faults_.setSlowMs(value);
  spdlog::warn("fault injection: API latency is now +{} ms", value);
  return json(request, 200, nlohmann::json{{"slow_ms", value}}.dump());
}

HttpResponse RequestRouter::json(const HttpRequest& request, unsigned status, std::string body) const {
  return text(request, status, std::move(body), "application/json");
}

HttpResponse RequestRouter::text(const HttpRequest& request, unsigned status, std::string body,
                                 std::string_view type) const {
  HttpResponse response{static_cast<http::status>(status), request.version()};
  response.set(http::field::server, kServerName);
  response.set("X-Served-By", config_.slot);
  response.set(http::field::content_type, toBeast(type));
  response.body() = std::move(body);
  response.prepare_payload();
  if (request.method() == http::verb::head) {
    // Same headers as GET, Content-Length included, and no body.
    const auto length = response.body().size();
    response.body().clear();
    response.content_length(length);
  }
  return response;
}

HttpResponse RequestRouter::methodNotAllowed(const HttpRequest& request, std::string_view allow) const {
  auto response = json(request, 405,
                       errorBody(405, "Method Not Allowed: " + std::string(toStd(request.method_string())) +
                                          " (allowed: " + std::string(allow) + ")"));
  response.set(http::field::allow, toBeast(allow));
  return response;
}

}  // namespace ringlb::apod
