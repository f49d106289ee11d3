#include "ringlb/apod/request_router.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_upstream_fetcher.h"
#include "run_awaitable.h"

namespace ringlb::apod {
namespace {

namespace http = boost::beast::http;
using testing::runAwaitable;

std::string header(const HttpResponse& response, std::string_view name) {
  const auto it = response.find(boost::beast::string_view{name.data(), name.size()});
  return it == response.end() ? std::string{"<absent>"} : std::string(it->value());
}

class RequestRouterTest : public ::testing::Test {
 protected:
  explicit RequestRouterTest(bool faults = true)
      : offline_{Dataset{}, [] { return std::uint64_t{0}; }},
        metrics_{"apod-7"},
        router_{RouterConfig{"apod-7", faults}, offline_, nullptr, faults_, metrics_, [this] { ++crashes_; }} {}

  HttpResponse call(http::verb method, std::string_view target, unsigned version = 11) {
    HttpRequest request{method, boost::beast::string_view{target.data(), target.size()}, version};
    return runAwaitable(router_.handle(std::move(request)));
  }

  ApodService offline_;
  ApodMetrics metrics_;
  FaultInjector faults_;
  int crashes_ = 0;
  RequestRouter router_;
};

class RequestRouterWithoutFaults : public RequestRouterTest {
 protected:
  RequestRouterWithoutFaults() : RequestRouterTest(false) {}
};

TEST_F(RequestRouterTest, ApiAnswersJsonWithServedBy) {
  const auto response = call(http::verb::get, "/planetary/apod?date=2001-09-11");
  EXPECT_EQ(response.result_int(), 200U);
  EXPECT_EQ(header(response, "X-Served-By"), "apod-7");
  EXPECT_EQ(header(response, "Content-Type"), "application/json");
  EXPECT_EQ(header(response, "X-Apod-Source"), "offline");
  EXPECT_EQ(nlohmann::json::parse(response.body()).at("date"), "2001-09-11");
}

TEST_F(RequestRouterTest, TrailingSlashIsTheSameEndpoint) {
  EXPECT_EQ(call(http::verb::get, "/planetary/apod/?date=2001-09-11").result_int(), 200U);
}

TEST_F(RequestRouterTest, HeadHasGetsHeadersAndNoBody) {
  const auto get = call(http::verb::get, "/planetary/apod?date=2001-09-11");
  const auto head = call(http::verb::head, "/planetary/apod?date=2001-09-11");
  EXPECT_EQ(head.result_int(), 200U);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(header(head, "Content-Length"), std::to_string(get.body().size()));
}

TEST_F(RequestRouterTest, BadQueryIs400InTheApisShape) {
  const auto response = call(http::verb::get, "/planetary/apod?count=500");
  EXPECT_EQ(response.result_int(), 400U);
  EXPECT_EQ(header(response, "X-Served-By"), "apod-7");
  const auto body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body.at("code"), 400);
  EXPECT_EQ(body.at("msg"), "Count must be positive and cannot exceed 100");
  EXPECT_EQ(body.at("service_version"), "v1");
}

TEST_F(RequestRouterTest, UnknownPathIs404Json) {
  const auto response = call(http::verb::get, "/planetary/earth");
  EXPECT_EQ(response.result_int(), 404U);
  EXPECT_EQ(header(response, "X-Served-By"), "apod-7");
  EXPECT_EQ(nlohmann::json::parse(response.body()).at("code"), 404);
}

TEST_F(RequestRouterTest, OtherMethodsAre405WithAllow) {
  for (const auto method : {http::verb::post, http::verb::put, http::verb::delete_, http::verb::patch}) {
    const auto response = call(method, "/planetary/apod");
    EXPECT_EQ(response.result_int(), 405U);
    EXPECT_EQ(header(response, "Allow"), "GET, HEAD");
    EXPECT_EQ(nlohmann::json::parse(response.body()).at("code"), 405);
  }
  EXPECT_EQ(call(http::verb::post, "/healthz").result_int(), 405U);
  EXPECT_EQ(call(http::verb::delete_, "/metrics").result_int(), 405U);
  EXPECT_EQ(header(call(http::verb::get, "/admin/fail"), "Allow"), "POST");
}

TEST_F(RequestRouterTest, HealthFollowsInjectedFailureAndDraining) {
  EXPECT_EQ(call(http::verb::get, "/healthz").body(), "ok\n");
  EXPECT_EQ(call(http::verb::post, "/admin/fail").result_int(), 200U);
  const auto failing = call(http::verb::get, "/healthz");
  EXPECT_EQ(failing.result_int(), 503U);
  EXPECT_EQ(header(failing, "X-Served-By"), "apod-7");
  EXPECT_EQ(call(http::verb::post, "/admin/recover").result_int(), 200U);
  EXPECT_EQ(call(http::verb::get, "/healthz").result_int(), 200U);
  router_.setDraining(true);
  EXPECT_EQ(call(http::verb::get, "/healthz").result_int(), 503U);
  EXPECT_EQ(call(http::verb::get, "/healthz").body(), "draining\n");
}

TEST_F(RequestRouterTest, SlowAddsLatencyToTheApiOnly) {
  EXPECT_EQ(call(http::verb::post, "/admin/slow?ms=120").result_int(), 200U);
  EXPECT_EQ(faults_.slowDelay(), std::chrono::milliseconds{120});
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(call(http::verb::get, "/planetary/apod").result_int(), 200U);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds{120});
  EXPECT_EQ(call(http::verb::post, "/admin/slow?ms=0").result_int(), 200U);
  EXPECT_EQ(faults_.slowDelay(), std::chrono::milliseconds{0});
}

TEST_F(RequestRouterTest, SlowRejectsBadValues) {
  for (const auto* target : {"/admin/slow", "/admin/slow?ms=", "/admin/slow?ms=-1", "/admin/slow?ms=fast",
                             "/admin/slow?ms=600001", "/admin/slow?ms=5x"}) {
    const auto response = call(http::verb::post, target);
    EXPECT_EQ(response.result_int(), 400U) << target;
    EXPECT_NE(response.body().find("'ms'"), std::string::npos) << target;
  }
  EXPECT_EQ(faults_.slowDelay(), std::chrono::milliseconds{0});
}

TEST_F(RequestRouterTest, CrashCallsTheCrashAction) {
  call(http::verb::post, "/admin/crash");
  EXPECT_EQ(crashes_, 1);
}

TEST_F(RequestRouterWithoutFaults, AdminEndpointsAre404) {
  for (const auto* target : {"/admin/fail", "/admin/recover", "/admin/crash", "/admin/slow?ms=5"}) {
    EXPECT_EQ(call(http::verb::post, target).result_int(), 404U) << target;
  }
  EXPECT_EQ(crashes_, 0);
  EXPECT_FALSE(faults_.failing());
  EXPECT_EQ(call(http::verb::get, "/healthz").result_int(), 200U);
}

TEST_F(RequestRouterTest, MetricsCountRequestsBySlotAndCode) {
  call(http::verb::get, "/planetary/apod");
  call(http::verb::get, "/planetary/apod?date=bad");
  call(http::verb::get, "/nope");
  const auto response = call(http::verb::get, "/metrics");
  EXPECT_EQ(response.result_int(), 200U);
  const auto& text = response.body();
  EXPECT_NE(text.find(R"(ringlb_apod_requests_total{code="200",slot="apod-7"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(ringlb_apod_requests_total{code="400",slot="apod-7"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(ringlb_apod_requests_total{code="404",slot="apod-7"} 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(ringlb_apod_request_duration_seconds_count{slot="apod-7"} 3)"), std::string::npos);
}

TEST_F(RequestRouterTest, RejectionsCarryServedByAndTheApiErrorShape) {
  const auto response = router_.reject(http::status::request_header_fields_too_large, "header limit exceeded");
  EXPECT_EQ(response.result_int(), 431U);
  EXPECT_EQ(header(response, "X-Served-By"), "apod-7");
  EXPECT_EQ(nlohmann::json::parse(response.body()).at("code"), 431);
}

TEST_F(RequestRouterTest, AnswersInTheRequestsHttpVersion) {
  EXPECT_EQ(call(http::verb::get, "/healthz", 10).version(), 10U);
}

TEST(RequestRouterUpstream, SourceAndFallbackHeaders) {
  testing::FakeUpstreamFetcher::Log log;
  log.script.push_back(Error{"connect: Connection refused\r\ninjected: yes"});
  const ApodService offline{Dataset{}, [] { return std::uint64_t{0}; }};
  ApodMetrics metrics{"s"};
  FaultInjector faults;
  UpstreamForwarder forwarder{std::make_unique<testing::FakeUpstreamFetcher>(log), "k", {}, offline, &metrics};
  RequestRouter router{RouterConfig{"s", false}, offline, &forwarder, faults, metrics, [] {}};
  const auto call = [&](std::string_view target) {
    return runAwaitable(router.handle(HttpRequest{http::verb::get, {target.data(), target.size()}, 11}));
  };
  const auto fallback = call("/planetary/apod?date=2020-01-01");
  EXPECT_EQ(header(fallback, "X-Apod-Source"), "offline-fallback");
  EXPECT_EQ(header(fallback, "X-Apod-Upstream-Error"), "connect: Connection refused  injected: yes");
  EXPECT_EQ(header(call("/planetary/apod?date=2020-01-01"), "X-Apod-Source"), "upstream");
  EXPECT_EQ(header(call("/planetary/apod?date=2020-01-01"), "X-Apod-Source"), "upstream-cache");
}

}  // namespace
}  // namespace ringlb::apod
