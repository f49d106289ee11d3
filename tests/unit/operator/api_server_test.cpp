#include "ringlb/operator/api_server.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_test_client.h"
#include "ringlb/ring/wire_format.h"

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;
using testing::httpGet;
using nlohmann::json;

ring::RingSpec spec(int members) {
  ring::RingSpec s;
  s.name = "apod";
  for (int i = 0; i < members; ++i) {
    s.members.push_back({"apod-" + std::to_string(i), "127.0.0.1:" + std::to_string(9000 + i), 1,
                         i == 1 ? ring::MemberState::NotReady : ring::MemberState::Ready});
  }
  return s;
}

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<ApiServer>(
        io, registry,
        ApiHandlers{[] { return json{{"rings", json::array()}}; }, [this]() -> Result<std::string> {
                      if (ready) return std::string("ready");
                      return Error::unavailable("not ready: broken.yaml: spec.replicas: must be >= 0, got -1");
                    },
                    [] { return std::string("ringlb_operator_ring_version{ring=\"apod\"} 1\n"); }});
    auto bound = server->listen("127.0.0.1:0");
    ASSERT_TRUE(bound.ok()) << bound.error();
    port = bound->port();
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    server->close();
    io.stop();
    thread.join();
  }

  boost::asio::io_context io;
  RingRegistry registry{""};
  std::unique_ptr<ApiServer> server;
  unsigned short port = 0;
  std::thread thread;
  bool ready = true;
};

TEST_F(ApiServerTest, ServesRingsWithTheirVersion) {
  ASSERT_TRUE(registry.publish("default/apod", spec(3)).ok());
  auto reply = httpGet(port, "/v1/rings/apod");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.headers["X-Ring-Version"], "1");
  const auto parsed = ring::parseRingJson(reply.body);
  ASSERT_TRUE(parsed.ok()) << parsed.error();
  EXPECT_EQ(parsed->version, 1u);
  EXPECT_EQ(parsed->members.size(), 3u);
  EXPECT_EQ(parsed->members[1].state, ring::MemberState::NotReady);

  reply = httpGet(port, "/v1/rings");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(json::parse(reply.body)["rings"][0]["name"], "apod");

  EXPECT_EQ(httpGet(port, "/v1/rings/nope").status, 404u);
  EXPECT_EQ(httpGet(port, "/v1/nothing").status, 404u);
}

TEST_F(ApiServerTest, WatchAnswersAtOnceWhenBehindWaitsForTheNextVersionAndTimesOut) {
  ASSERT_TRUE(registry.publish("default/apod", spec(2)).ok());
  auto reply = httpGet(port, "/v1/rings/apod?watch=0&timeoutSeconds=5");
  EXPECT_EQ(reply.status, 200u) << "known version behind: immediate";
  EXPECT_EQ(reply.headers["X-Ring-Version"], "1");

  const auto began = std::chrono::steady_clock::now();
  reply = httpGet(port, "/v1/rings/apod?watch=1&timeoutSeconds=1");
  EXPECT_EQ(reply.status, 304u);
  EXPECT_GE(std::chrono::steady_clock::now() - began, 900ms);
  EXPECT_EQ(reply.headers["X-Ring-Version"], "1");

  auto pending = std::async(std::launch::async, [this] { return httpGet(port, "/v1/rings/apod?watch=1&timeoutSeconds=10"); });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(pending.wait_for(0ms), std::future_status::timeout) << "no new version yet";
  const auto publishedAt = std::chrono::steady_clock::now();
  ASSERT_TRUE(registry.publish("default/apod", spec(3)).ok());
  reply = pending.get();
  EXPECT_LT(std::chrono::steady_clock::now() - publishedAt, 500ms) << "delivered as soon as it is published";
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.headers["X-Ring-Version"], "2");
  EXPECT_EQ(ring::parseRingJson(reply.body)->members.size(), 3u);

  EXPECT_EQ(httpGet(port, "/v1/rings/nope?watch=1&timeoutSeconds=1").status, 404u);
  EXPECT_EQ(httpGet(port, "/v1/rings/apod?watch=abc").status, 400u);
}

TEST_F(ApiServerTest, ExplainWalksToTheFirstReadyMember) {
  ASSERT_TRUE(registry.publish("default/apod", spec(3)).ok());
  auto reply = httpGet(port, "/v1/rings/apod/explain?key=%2Fplanetary%2Fapod%3Fdate%3D2020-01-01");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["key"], "/planetary/apod?date=2020-01-01");
  EXPECT_EQ(body["walk"].size(), 3u);
  EXPECT_EQ(body["walk"][0]["id"], body["owner"]);
  EXPECT_NE(body["pick"], "apod-1") << "apod-1 is NotReady";
  if (body["owner"] != "apod-1") {
    EXPECT_EQ(body["pick"], body["owner"]);
  }
  EXPECT_EQ(httpGet(port, "/v1/rings/apod/explain").status, 400u);
  EXPECT_EQ(httpGet(port, "/v1/rings/nope/explain?key=a").status, 404u);
}

TEST_F(ApiServerTest, PointsGiveEveryVirtualNodeWhereTheRingPutsIt) {
  auto ringSpec = spec(3);
  ringSpec.virtualNodes = 40;
  ringSpec.members[2].weight = 2;
  ASSERT_TRUE(registry.publish("default/apod", ringSpec).ok());
  auto reply = httpGet(port, "/v1/rings/default/apod/points");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["algorithm"], "ring");
  ASSERT_EQ(body["members"].size(), 3u);
  EXPECT_EQ(body["members"][0]["points"].size(), 40u);
  EXPECT_EQ(body["members"][2]["points"].size(), 80u) << "weight 2: twice the points";
  EXPECT_EQ(body["members"][1]["state"], "NotReady");
  // The owner of a hash just below a member's point is that member (points are hash >> 48).
  const auto point = body["members"][0]["points"][0].get<std::uint64_t>();
  const std::uint64_t hash = point << 48;
  const auto ring = registry.get("default/apod");
  const auto owner = ring->owner(hash);
  ASSERT_TRUE(owner.has_value());
  const std::string ownerId = ring->members()[*owner].id;
  bool someoneAt = false;
  for (const auto& member : body["members"]) {
    for (const auto& p : member["points"]) someoneAt |= member["id"] == ownerId && p.get<std::uint64_t>() == point;
  }
  EXPECT_TRUE(someoneAt);
  EXPECT_EQ(httpGet(port, "/v1/rings/apod/points").status, 200u) << "a bare name works too";
  EXPECT_EQ(httpGet(port, "/v1/rings/nope/points").status, 404u);

  auto maglev = spec(2);
  maglev.name = "m";
  maglev.algorithm = ring::Algorithm::Maglev;
  ASSERT_TRUE(registry.publish("default/m", maglev).ok());
  const json table = json::parse(httpGet(port, "/v1/rings/default/m/points").body);
  EXPECT_EQ(table["algorithm"], "maglev");
  EXPECT_EQ(table["owners"].size(), 4096u);
}

TEST_F(ApiServerTest, NamespacedRingsAreServedApartAndABareNameNeverPicksOne) {
  auto a = spec(2);
  auto b = spec(3);
  b.members[0].address = "127.0.2.1:8080";
  ASSERT_TRUE(registry.publish("a/apod", a).ok());
  auto reply = httpGet(port, "/v1/rings/apod");
  EXPECT_EQ(reply.status, 200u) << "a unique bare name still works";
  EXPECT_EQ(ring::parseRingJson(reply.body)->members.size(), 2u);
  ASSERT_TRUE(registry.publish("b/apod", b).ok());

  reply = httpGet(port, "/v1/rings/a/apod");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(ring::parseRingJson(reply.body)->members.size(), 2u);
  reply = httpGet(port, "/v1/rings/b/apod");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(ring::parseRingJson(reply.body)->members[0].address, "127.0.2.1:8080");

  for (const std::string target : {"/v1/rings/apod", "/v1/rings/apod?watch=0", "/v1/rings/apod/explain?key=x"}) {
    reply = httpGet(port, target);
    EXPECT_EQ(reply.status, 409u) << target;
    EXPECT_NE(reply.body.find("namespaces a, b"), std::string::npos) << reply.body;
  }
  reply = httpGet(port, "/v1/rings/b/apod?watch=0&timeoutSeconds=1");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(ring::parseRingJson(reply.body)->members.size(), 3u);
  reply = httpGet(port, "/v1/rings/b/apod/explain?key=x");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(json::parse(reply.body)["namespace"], "b");
  EXPECT_EQ(httpGet(port, "/v1/rings/c/apod").status, 404u);
  EXPECT_EQ(httpGet(port, "/v1/rings/a/apod/x/y").status, 404u);

  const json list = json::parse(httpGet(port, "/v1/rings").body)["rings"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["namespace"], "a");
  EXPECT_EQ(list[1]["namespace"], "b");
}

TEST_F(ApiServerTest, HealthReadinessMetricsAndStatusPage) {
  EXPECT_EQ(httpGet(port, "/healthz").status, 200u);
  EXPECT_EQ(httpGet(port, "/readyz").status, 200u);
  ready = false;
  const auto notReady = httpGet(port, "/readyz");
  EXPECT_EQ(notReady.status, 503u);
  EXPECT_NE(notReady.body.find("spec.replicas"), std::string::npos);
  const auto metrics = httpGet(port, "/metrics");
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_NE(metrics.body.find("ringlb_operator_ring_version"), std::string::npos);
  const auto page = httpGet(port, "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_NE(page.body.find("<svg"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos) << "no external assets";
  EXPECT_EQ(page.body.find("https://"), std::string::npos) << "no external assets";
}

TEST(ParseListenAddress, AcceptsTheUsualForms) {
  EXPECT_EQ(parseListenAddress(":8081")->port(), 8081);
  EXPECT_EQ(parseListenAddress(":8081")->address().to_string(), "0.0.0.0");
  EXPECT_EQ(parseListenAddress("127.0.0.1:0")->address().to_string(), "127.0.0.1");
  EXPECT_EQ(parseListenAddress("[::1]:9")->address().to_string(), "::1");
  EXPECT_FALSE(parseListenAddress("8081").ok());
  EXPECT_FALSE(parseListenAddress("host:99999").ok());
  EXPECT_FALSE(parseListenAddress("not-an-ip:80").ok());
}

}  // namespace
}  // namespace ringlb::op
