#include "ringlb/operator/prometheus_traffic.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

using nlohmann::json;

json vector(std::initializer_list<std::pair<const char*, const char*>> samples) {
  json result = json::array();
  for (const auto& [member, value] : samples) {
    result.push_back({{"metric", {{"member", member}}}, {"value", json::array({1700000000.5, value})}});
  }
  return {{"status", "success"}, {"data", {{"resultType", "vector"}, {"result", result}}}};
}

TEST(PrometheusTraffic, QueriesSumEveryProxyByMemberOverTheWindow) {
  const auto queries = trafficQueries("15s");
  ASSERT_EQ(queries.size(), 7u);
  EXPECT_EQ(queries[0].field, "requestsPerSecond");
  EXPECT_EQ(queries[0].promql, "sum by (member) (rate(ringlb_proxy_requests_total{member!=\"none\"}[15s]))");
  EXPECT_EQ(queries[3].promql,
            "histogram_quantile(0.99, sum by (member, le) "
            "(rate(ringlb_proxy_request_duration_seconds_bucket{member!=\"none\"}[15s])))");
  EXPECT_EQ(queries[4].promql, "sum by (member) (ringlb_proxy_member_in_flight)");
}

TEST(PrometheusTraffic, FoldsAnswersIntoMembersWithErrorRatioAndObservedShare) {
  auto folded = foldTrafficAnswers({{"requestsPerSecond", vector({{"apod-0", "30"}, {"apod-1", "10"}})},
                                    {"errorsPerSecond", vector({{"apod-0", "3"}})},
                                    {"p99Seconds", vector({{"apod-0", "0.004"}, {"apod-1", "NaN"}})}});
  ASSERT_TRUE(folded.ok()) << folded.error();
  const json& m = folded.value();
  EXPECT_DOUBLE_EQ(m["apod-0"]["requestsPerSecond"].get<double>(), 30);
  EXPECT_DOUBLE_EQ(m["apod-0"]["errorRatio"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(m["apod-0"]["observedShare"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(m["apod-1"]["observedShare"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(m["apod-1"]["errorRatio"].get<double>(), 0) << "no 5xx series: no errors";
  EXPECT_TRUE(m["apod-1"]["p99Seconds"].is_null()) << "a quantile over no requests is NaN";
  EXPECT_DOUBLE_EQ(m["apod-0"]["p99Seconds"].get<double>(), 0.004);
}

TEST(PrometheusTraffic, AMemberWithoutRequestsHasNoRatios) {
  auto folded = foldTrafficAnswers({{"requestsPerSecond", vector({{"apod-0", "0"}})}});
  ASSERT_TRUE(folded.ok());
  EXPECT_TRUE(folded.value()["apod-0"]["errorRatio"].is_null());
  EXPECT_TRUE(folded.value()["apod-0"]["observedShare"].is_null());
}

TEST(PrometheusTraffic, AFailedAnswerNamesItsField) {
  auto folded = foldTrafficAnswers({{"requestsPerSecond", vector({})},
                                    {"spillsPerSecond", json{{"status", "error"}, {"error", "parse error"}}}});
  ASSERT_FALSE(folded.ok());
  EXPECT_EQ(folded.error(), "Prometheus answer for spillsPerSecond is not a success vector");
}

TEST(PrometheusTraffic, ParsesPlainHttpUrlsOnly) {
  auto url = parseHttpUrl("http://127.0.0.1:9090/prom/");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, "9090");
  EXPECT_EQ(url->prefix, "/prom");
  EXPECT_EQ(parseHttpUrl("http://prometheus")->port, "80");
  EXPECT_FALSE(parseHttpUrl("https://127.0.0.1:9090").ok());
  EXPECT_FALSE(parseHttpUrl("http://:9090").ok());
}

}  // namespace
}  // namespace ringlb::op
