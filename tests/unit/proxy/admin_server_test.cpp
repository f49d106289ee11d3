#include "admin_server.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "health_registry.h"
#include "member_health.h"
#include "proxy_metrics.h"
#include "ring_publisher.h"
#include "ring_store.h"
#include "ringlb/ring/hash.h"

namespace ringlb::proxy {
namespace {

class Admin : public ::testing::Test {
 protected:
  void publish(std::size_t members, ring::MemberState state = ring::MemberState::Ready) {
    ring::RingSpec spec;
    spec.name = "apod";
    spec.version = 7;
    for (std::size_t i = 0; i < members; ++i) {
      spec.members.push_back({"apod-" + std::to_string(i), "127.0.0.1:" + std::to_string(2000 + i), 1, state});
    }
    ASSERT_TRUE(publisher.apply(spec, "test").ok());
  }

  asio::io_context ioc;
  RingStore store;
  HealthRegistry health;
  ProxyMetrics metrics{store, health};
  RingPublisher publisher{store, health, std::nullopt};
  std::atomic<bool> draining{false};
  AdminServer admin{ioc, store, metrics, draining};
};

TEST_F(Admin, ReadinessFollowsTheRingAndDraining) {
  EXPECT_EQ(admin.handle("GET", "/healthz").status, 200u);
  EXPECT_EQ(admin.handle("GET", "/readyz").status, 503u);
  publish(3, ring::MemberState::NotReady);
  EXPECT_EQ(admin.handle("GET", "/readyz").status, 503u);
  EXPECT_NE(admin.handle("GET", "/readyz").body.find("Ready"), std::string::npos);
  publish(3);
  EXPECT_EQ(admin.handle("GET", "/readyz").status, 200u);
  draining = true;
  EXPECT_EQ(admin.handle("GET", "/readyz").status, 503u);
}

TEST_F(Admin, RingShowsMembersStatesAndExactShares) {
  publish(3);
  const auto response = admin.handle("GET", "/ring");
  ASSERT_EQ(response.status, 200u);
  const auto ring = nlohmann::json::parse(response.body);
  EXPECT_EQ(ring["version"], 7);
  ASSERT_EQ(ring["members"].size(), 3u);
  double total = 0;
  for (const auto& member : ring["members"]) {
    EXPECT_EQ(member["state"], "Ready");
    total += member["share"].get<double>();
  }
  EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST_F(Admin, ExplainMatchesTheRingOwner) {
  publish(4);
  const auto table = store.current();
  for (const std::string key : {"/a", "/planetary/apod", "x y"}) {
    const auto response = admin.handle("GET", "/explain?key=" + (key == "x y" ? std::string("x%20y") : key));
    ASSERT_EQ(response.status, 200u);
    const auto body = nlohmann::json::parse(response.body);
    EXPECT_EQ(body["key"], key);
    const auto owner = *table->ring->owner(ring::hashKey(key));
    EXPECT_EQ(body["owner"], table->ring->members()[owner].id);
    EXPECT_EQ(body["chosen"], body["owner"]);
    EXPECT_EQ(body["hashDecimal"].get<std::uint64_t>(), ring::hashKey(key));
  }
  EXPECT_EQ(admin.handle("GET", "/explain").status, 400u);
}

TEST_F(Admin, ExplainShowsAKeyAWorkerSpreadWithinTheLastSecond) {
  publish(4);
  const auto hot = [&] { return nlohmann::json::parse(admin.handle("GET", "/explain?key=/hot").body)["hot"]; };
  EXPECT_TRUE(hot().is_null());
  metrics.hotKeys.mark(ring::hashKey("/hot"), 3, monotonicNanos());
  ASSERT_TRUE(hot().is_object());
  EXPECT_EQ(hot()["spreadOver"], 3);
  EXPECT_TRUE(nlohmann::json::parse(admin.handle("GET", "/explain?key=/cold").body)["hot"].is_null());
  // Marked more than a second ago: no longer hot.
  metrics.hotKeys.mark(ring::hashKey("/stale"), 3, monotonicNanos() - 2 * HotKeyBoard::kFreshNanos);
  EXPECT_TRUE(nlohmann::json::parse(admin.handle("GET", "/explain?key=/stale").body)["hot"].is_null());
}

TEST_F(Admin, MetricsUseTheContractNames) {
  publish(2);
  metrics.memberStats(0, "apod-0").countResponse(200, 1'000'000);
  metrics.memberStats(1, "apod-0").countResponse(503, 1'000'000);
  metrics.memberStats(0, "none").countResponse(400, 1000);
  const auto text = admin.handle("GET", "/metrics").body;
  for (const char* name : {"ringlb_proxy_requests_total{member=\"apod-0\",code_class=\"2xx\",protocol=\"http1\"} 1",
                           "ringlb_proxy_requests_total{member=\"apod-0\",code_class=\"5xx\",protocol=\"http1\"} 1",
                           "ringlb_proxy_requests_total{member=\"none\",code_class=\"4xx\",protocol=\"http1\"} 1",
                           "ringlb_proxy_request_duration_seconds_bucket", "ringlb_proxy_upstream_errors_total",
                           "ringlb_proxy_retries_total", "ringlb_proxy_bounded_load_spills_total",
                           "ringlb_proxy_hot_key_spread_requests_total",
                           "ringlb_proxy_ejections_total", "ringlb_proxy_member_ejected", "ringlb_proxy_member_ready",
                           "ringlb_proxy_member_keyspace_share", "ringlb_proxy_active_connections", "ringlb_proxy_active_tunnels 0",
                           "ringlb_proxy_ring_version 7", "ringlb_proxy_ring_staleness_seconds",
                           "ringlb_proxy_ring_updates_total{result=\"applied\"} 1"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
}

TEST_F(Admin, InFlightSumsEveryWorkersBegunLessEnded) {
  publish(2);
  auto& first = metrics.memberStats(0, "apod-0");
  auto& second = metrics.memberStats(1, "apod-0");
  first.requestsBegun.add(3);
  first.requestsEnded.add(1);
  second.requestsBegun.add(2);
  second.requestsEnded.add(2);
  const auto text = admin.handle("GET", "/metrics").body;
  EXPECT_NE(text.find("ringlb_proxy_member_in_flight{member=\"apod-0\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("ringlb_proxy_member_in_flight{member=\"apod-1\"} 0"), std::string::npos) << text;
}

TEST_F(Admin, PublisherRefusesABadRingAndKeepsThePreviousOne) {
  publish(2);
  EXPECT_FALSE(publisher.applyJson(R"({"name":"apod","version":8,"members":[{"id":"a","address":"h:1","weight":0}]})", "t").ok());
  EXPECT_FALSE(publisher.applyJson("not json", "t").ok());
  ring::RingSpec bad;
  bad.name = "apod";
  bad.version = 9;
  bad.members.push_back({"a", "no-port", 1, ring::MemberState::Ready});
  const auto status = publisher.apply(bad, "t");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("members[0].address"), std::string::npos) << status.error();
  EXPECT_EQ(store.current()->ring->version(), 7u);
  EXPECT_EQ(store.rejected(), 3u);
}

TEST(PercentDecode, DecodesEscapesOnly) {
  EXPECT_EQ(percentDecode("/a%2Fb%20c+d%zz%4"), "/a/b c+d%zz%4");
}

}  // namespace
}  // namespace ringlb::proxy
