#include "ringlb/operator/prometheus_traffic.h"

#include <cmath>
#include <cstdlib>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "ringlb/base/percent_encoding.h"

namespace ringlb::op {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

std::vector<TrafficQuery> trafficQueries(std::string_view window) {
  const std::string w = "[" + std::string(window) + "]";
  const std::string requests = "ringlb_proxy_requests_total{member!=\"none\"}";
  const auto quantile = [&](const char* q) {
    return std::string("histogram_quantile(") + q +
           ", sum by (member, le) (rate(ringlb_proxy_request_duration_seconds_bucket{member!=\"none\"}" + w + ")))";
  };
  return {
      {"requestsPerSecond", "sum by (member) (rate(" + requests + w + "))"},
      {"errorsPerSecond", "sum by (member) (rate(ringlb_proxy_requests_total{member!=\"none\",code_class=\"5xx\"}" + w + "))"},
      {"p50Seconds", quantile("0.5")},
      {"p99Seconds", quantile("0.99")},
      {"inFlight", "sum by (member) (ringlb_proxy_member_in_flight)"},
      {"retriesPerSecond", "sum by (member) (rate(ringlb_proxy_retries_total" + w + "))"},
      {"spillsPerSecond", "sum by (member) (rate(ringlb_proxy_bounded_load_spills_total" + w + "))"},
  };
}

Result<json> foldTrafficAnswers(const std::map<std::string, json>& answers) {
  json members = json::object();
  for (const auto& [field, body] : answers) {
    if (!body.is_object() || body.value("status", "") != "success" || !body.contains("data") ||
        body["data"].value("resultType", "") != "vector" || !body["data"].contains("result") ||
        !body["data"]["result"].is_array()) {
      return Error{"Prometheus answer for " + field + " is not a success vector"};
    }
    for (const auto& sample : body["data"]["result"]) {
      const auto& metric = sample.value("metric", json::object());
      if (!metric.contains("member") || !sample.contains("value") || !sample["value"].is_array() ||
          sample["value"].size() != 2 || !sample["value"][1].is_string()) {
        continue;
      }
      const std::string text = sample["value"][1].get<std::string>();
      const double value = std::strtod(text.c_str(), nullptr);
      members[metric["member"].get<std::string>()][field] = std::isfinite(value) ? json(value) : json(nullptr);
    }
  }
  double total = 0;
  for (const auto& [id, entry] : members.items()) {
    if (entry.contains("requestsPerSecond") && entry["requestsPerSecond"].is_number()) total += entry["requestsPerSecond"].get<double>();
  }
  for (auto& [id, entry] : members.items()) {
    const double rate = entry.contains("requestsPerSecond") && entry["requestsPerSecond"].is_number()
                            ? entry["requestsPerSecond"].get<double>()
                            : 0.0;
    const double errors = entry.contains("errorsPerSecond") && entry["errorsPerSecond"].is_number()
                              ? entry["errorsPerSecond"].get<double>()
                              : 0.0;
    entry["errorRatio"] = rate > 0 ? json(errors / rate) : json(nullptr);
    entry["observedShare"] = total > 0 ? json(rate / total) : json(nullptr);
  }
  return members;
}

Result<HttpUrl> parseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return Error{"--prometheus-url: '" + std::string(url) + "' must start with http://"};
  std::string_view rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const auto colon = authority.rfind(':');
  HttpUrl out;
  if (colon == std::string_view::npos) {
    out.host = std::string(authority);
    out.port = "80";
  } else {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  }
  if (out.host.empty() || out.port.empty()) return Error{"--prometheus-url: '" + std::string(url) + "' has no host:port"};
  out.prefix = std::move(prefix);
  return out;
}

PrometheusTraffic::PrometheusTraffic(asio::io_context& io, PrometheusTrafficOptions options)
    : io_(io), options_(std::move(options)), timer_(io) {
  if (auto parsed = parseHttpUrl(options_.url)) url_ = parsed.value();
}

void PrometheusTraffic::start() { asio::co_spawn(io_, pollLoop(), asio::detached); }

void PrometheusTraffic::stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

json PrometheusTraffic::snapshot() const {
  return {{"source", "prometheus"},
          {"url", options_.url},
          {"window", options_.window},
          {"updatedUnixMillis", updatedUnixMillis_ == 0 ? json(nullptr) : json(updatedUnixMillis_)},
          {"error", error_.empty() ? json(nullptr) : json(error_)},
          {"members", members_}};
}

asio::awaitable<void> PrometheusTraffic::pollLoop() {
  const auto queries = trafficQueries(options_.window);
  while (!stopped_) {
    std::map<std::string, json> answers;
    std::string failure;
    for (const auto& q : queries) {
      auto answer = co_await query(q.promql);
      if (!answer) {
        failure = answer.error();
        break;
      }
      answers.emplace(q.field, std::move(answer.value()));
    }
    if (failure.empty()) {
      auto folded = foldTrafficAnswers(answers);
      if (folded) {
        members_ = std::move(folded.value());
        error_.clear();
        updatedUnixMillis_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      } else {
        error_ = folded.error();
      }
    } else {
      error_ = failure;  // the last good figures stay, with their age, beside the error
    }
    if (stopped_) break;
    timer_.expires_after(options_.interval);
    beast::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<Result<json>> PrometheusTraffic::query(const std::string& promql) {
  if (url_.host.empty()) co_return Error{"--prometheus-url: '" + options_.url + "' is not http://host:port"};
  beast::error_code ec;
  asio::ip::tcp::resolver resolver(io_);
  const auto endpoints =
      co_await resolver.async_resolve(url_.host, url_.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error::unavailable("Prometheus " + options_.url + ": " + ec.message());
  beast::tcp_stream stream(io_);
  stream.expires_after(options_.timeout);
  co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error::unavailable("Prometheus " + options_.url + ": " + ec.message());
  http::request<http::empty_body> request{http::verb::get,
                                          url_.prefix + "/api/v1/query?query=" + percentEncode(promql), 11};
  request.set(http::field::host, url_.host + ":" + url_.port);
  request.set(http::field::user_agent, "ringlb-operator");
  request.set(http::field::connection, "close");
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error::unavailable("Prometheus " + options_.url + ": " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(4 * 1024 * 1024);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error::unavailable("Prometheus " + options_.url + ": " + ec.message());
  const auto& response = parser.get();
  json body = json::parse(response.body(), nullptr, false);
  if (body.is_discarded()) {
    co_return Error{"Prometheus " + options_.url + " answered HTTP " + std::to_string(response.result_int()) +
                    " without JSON"};
  }
  if (response.result() != http::status::ok) {
    co_return Error{"Prometheus " + options_.url + " answered HTTP " + std::to_string(response.result_int()) + ": " +
                    body.value("error", std::string())};
  }
  co_return body;
}

}  // namespace ringlb::op
