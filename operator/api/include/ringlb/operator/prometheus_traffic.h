#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "ringlb/base/result.h"

namespace ringlb::op {

/// Where the status page's per-member traffic comes from: a Prometheus that
/// scrapes the proxies (--prometheus-url). PromQL sums every proxy's
/// counters by member, so the operator asks a fixed number of queries per
/// refresh however many proxies there are.
struct PrometheusTrafficOptions {
  std::string url;                                  // http://host:port[/prefix]; empty: no traffic section
  std::string window = "1m";                        // the rate() window
  std::chrono::milliseconds interval{2000};         // how often the queries run
  std::chrono::milliseconds timeout{2000};          // per query
};

/// One named PromQL query of the traffic section.
struct TrafficQuery {
  std::string field;  // requestsPerSecond, errorsPerSecond, p50Seconds, p99Seconds, inFlight, retriesPerSecond, spillsPerSecond
  std::string promql;
};

/// The queries, over `window` (a Prometheus duration such as "1m"). Pure.
std::vector<TrafficQuery> trafficQueries(std::string_view window);

/// Folds the instant-query answers (field -> the body Prometheus returned)
/// into {member: {field: value, ..., errorRatio, observedShare}}. NaN and
/// infinite values (a quantile over no requests) become null. Returns an
/// Error naming the field whose answer is not a success vector. Pure.
Result<nlohmann::json> foldTrafficAnswers(const std::map<std::string, nlohmann::json>& answers);

/// Splits "http://host:port/prefix" into host, port and path prefix. Only
/// plain http is accepted. Pure.
struct HttpUrl {
  std::string host;
  std::string port;
  std::string prefix;
};
Result<HttpUrl> parseHttpUrl(std::string_view url);

/// Polls Prometheus on the operator's io thread and keeps the last answer
/// for /v1/status. snapshot() and the polling run on the same io thread, so
/// nothing locks.
class PrometheusTraffic {
 public:
  PrometheusTraffic(boost::asio::io_context& io, PrometheusTrafficOptions options);

  /// Starts polling. Call once, before the io_context runs or on its thread.
  void start();

  /// Stops polling. Thread-safe.
  void stop();

  /// {source, url, window, updatedUnixMillis, error, members}. io thread only.
  nlohmann::json snapshot() const;

 private:
  boost::asio::awaitable<void> pollLoop();
  boost::asio::awaitable<Result<nlohmann::json>> query(const std::string& promql);

  boost::asio::io_context& io_;
  PrometheusTrafficOptions options_;
  HttpUrl url_;
  boost::asio::steady_timer timer_;
  nlohmann::json members_ = nlohmann::json::object();
  std::string error_ = "not queried yet";
  std::int64_t updatedUnixMillis_ = 0;
  bool stopped_ = false;
};

}  // namespace ringlb::op
