#include "ringlb/apod/upstream_forwarder.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_upstream_fetcher.h"
#include "run_awaitable.h"

namespace ringlb::apod {
namespace {

using testing::FakeUpstreamFetcher;
using testing::runAwaitable;

class UpstreamForwarderTest : public ::testing::Test {
 protected:
  UpstreamForwarderTest()
      : offline_{Dataset{}, [] { return std::uint64_t{0}; }},
        metrics_{"test-slot"},
        forwarder_{std::make_unique<FakeUpstreamFetcher>(log_), "SECRET KEY",
                   ResponseCacheLimits{.maxEntries = 16, .maxBytes = 1 << 20, .ttl = std::chrono::seconds{60}},
                   offline_, &metrics_, [this] { return now_; }} {}

  SourcedReply ask(std::string_view query) { return runAwaitable(forwarder_.answer(QueryParams::parse(query))); }

  FakeUpstreamFetcher::Log log_;
  ApodService offline_;
  ApodMetrics metrics_;
  ResponseCache::TimePoint now_{};
  UpstreamForwarder forwarder_;
};

TEST_F(UpstreamForwarderTest, ForwardsKnownParametersWithTheApiKey) {
  const auto reply = ask("date=2020-01-01&api_key=client-key&junk=1&hd=true");
  EXPECT_EQ(reply.source, ReplySource::kUpstream);
  EXPECT_EQ(reply.reply.status, 200U);
  EXPECT_EQ(reply.reply.body, R"({"from":"upstream"})");
  ASSERT_EQ(log_.targets.size(), 1U);
  EXPECT_EQ(log_.targets[0], "/planetary/apod?date=2020-01-01&hd=true&api_key=SECRET%20KEY");
}

TEST_F(UpstreamForwarderTest, NoParametersForwardsOnlyTheKey) {
  ask("");
  ASSERT_EQ(log_.targets.size(), 1U);
  EXPECT_EQ(log_.targets[0], "/planetary/apod?api_key=SECRET%20KEY");
}

TEST_F(UpstreamForwarderTest, SecondIdenticalRequestIsServedFromTheCache) {
  ask("date=2020-01-01");
  const auto again = ask("api_key=other&date=2020-01-01");
  EXPECT_EQ(again.source, ReplySource::kUpstreamCache);
  EXPECT_EQ(again.reply.body, R"({"from":"upstream"})");
  EXPECT_EQ(log_.targets.size(), 1U);
  ask("date=2020-01-02");
  EXPECT_EQ(log_.targets.size(), 2U);
}

TEST_F(UpstreamForwarderTest, CacheEntriesExpire) {
  ask("date=2020-01-01");
  now_ += std::chrono::seconds{61};
  EXPECT_EQ(ask("date=2020-01-01").source, ReplySource::kUpstream);
  EXPECT_EQ(log_.targets.size(), 2U);
}

TEST_F(UpstreamForwarderTest, RandomCountsAreNeverCached) {
  ask("count=3");
  EXPECT_EQ(ask("count=3").source, ReplySource::kUpstream);
  EXPECT_EQ(log_.targets.size(), 2U);
}

TEST_F(UpstreamForwarderTest, TransportFailureFallsBackToTheOfflineDataset) {
  log_.script.push_back(Error{"connect 127.0.0.1:9: Connection refused"});
  const auto reply = ask("date=2020-01-01");
  EXPECT_EQ(reply.source, ReplySource::kOfflineFallback);
  EXPECT_EQ(reply.upstreamError, "connect 127.0.0.1:9: Connection refused");
  EXPECT_EQ(reply.reply.status, 200U);
  EXPECT_EQ(nlohmann::json::parse(reply.reply.body), Dataset{}.entryFor(CivilDate{2020, 1, 1}).toJson());
  // A fallback answer is not cached: the next request tries the upstream again.
  EXPECT_EQ(ask("date=2020-01-01").source, ReplySource::kUpstream);
}

TEST_F(UpstreamForwarderTest, ServerErrorsAndRateLimitsFallBack) {
  log_.script.push_back(UpstreamResponse{503, "busy"});
  log_.script.push_back(UpstreamResponse{429, "slow down"});
  EXPECT_EQ(ask("date=2020-01-01").source, ReplySource::kOfflineFallback);
  const auto limited = ask("date=2020-01-01");
  EXPECT_EQ(limited.source, ReplySource::kOfflineFallback);
  EXPECT_EQ(limited.upstreamError, "upstream answered HTTP 429");
}

TEST_F(UpstreamForwarderTest, ClientErrorsFromTheUpstreamAreRelayedNotCached) {
  log_.script.push_back(UpstreamResponse{403, R"({"error":{"code":"API_KEY_INVALID"}})"});
  const auto reply = ask("date=2020-01-01");
  EXPECT_EQ(reply.source, ReplySource::kUpstream);
  EXPECT_EQ(reply.reply.status, 403U);
  EXPECT_EQ(ask("date=2020-01-01").source, ReplySource::kUpstream);
  EXPECT_EQ(log_.targets.size(), 2U);
}

TEST_F(UpstreamForwarderTest, SyntaxErrorsAreAnsweredLocally) {
  const auto reply = ask("date=nope");
  EXPECT_EQ(reply.reply.status, 400U);
  EXPECT_EQ(nlohmann::json::parse(reply.reply.body).at("msg"), "time data 'nope' does not match format '%Y-%m-%d'");
  EXPECT_TRUE(log_.targets.empty());
}

TEST_F(UpstreamForwarderTest, DatesBeyondTheOfflineRangeAreTheUpstreamsCall) {
  ask("date=2030-01-01");
  EXPECT_EQ(log_.targets.size(), 1U);
}

TEST_F(UpstreamForwarderTest, MetricsCountUpstreamResultsAndCacheLookups) {
  ask("date=2020-01-01");
  ask("date=2020-01-01");
  log_.script.push_back(Error{"boom"});
  ask("date=2020-01-03");
  const auto text = metrics_.serialize();
  EXPECT_NE(text.find(R"(ringlb_apod_upstream_requests_total{result="ok",slot="test-slot"} 1)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(ringlb_apod_upstream_requests_total{result="failed",slot="test-slot"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(ringlb_apod_upstream_cache_lookups_total{result="hit",slot="test-slot"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(ringlb_apod_upstream_cache_lookups_total{result="miss",slot="test-slot"} 2)"),
            std::string::npos);
}

TEST(UpstreamForwarderCanonical, SortedEncodedAndWithoutApiKey) {
  EXPECT_EQ(UpstreamForwarder::canonicalQuery(QueryParams::parse("thumbs=true&date=2020-01-01&api_key=k&x=y")),
            "date=2020-01-01&thumbs=true");
  EXPECT_EQ(UpstreamForwarder::canonicalQuery(QueryParams::parse("start_date=2020-01-01&end_date=")),
            "start_date=2020-01-01");
}

}  // namespace
}  // namespace ringlb::apod
