// Exchanges driven through sessions on beast::test::stream, one test per
// attempt outcome class: what the member did, and the upstream error
// counted, the passive-health effect and the retry that followed.
#include <gtest/gtest.h>

#include "session_fixture.h"
#include "session_impl.h"
#include "worker_state_impl.h"

namespace ringlb::proxy {
namespace {

using test_support::expireAfter20ms;

class ExchangeTest : public test_support::SessionTest {
 protected:
  ExchangeTest() {
    config.passiveHealth.consecutiveFailures = 1;  // one failure ejects: the health effect shows at once
    config.limits.bufferBytes = 4096;
    config.limits.maxHeaderBytes = 2048;
  }

  std::uint64_t errors(const std::string& member, UpstreamError reason) {
    return metrics.memberStats(0, member).upstreamErrors[static_cast<std::size_t>(reason)].get();
  }
  std::uint64_t allErrors(const std::string& member) {
    std::uint64_t total = 0;
    for (const auto& counter : metrics.memberStats(0, member).upstreamErrors) total += counter.get();
    return total;
  }
  bool ejected(const std::string& member) { return health.get(member)->ejected(coarseNanos()); }
  static std::string ok(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nVia: 1.1 ringlb\r\n\r\n" + body;
  }
};

TEST_F(ExchangeTest, ConnectFailedCountsConnectEjectsAndTriesTheNextMember) {
  const auto chain = order("/c");
  refuse.insert(chain[0]);
  EXPECT_EQ(exchange("GET /c HTTP/1.1\r\nHost: h\r\n\r\n"), ok(chain[1]));
  EXPECT_EQ(errors(chain[0], UpstreamError::Connect), 1u);
  EXPECT_TRUE(ejected(chain[0]));
  EXPECT_FALSE(ejected(chain[1]));
  EXPECT_EQ(metrics.memberStats(0, chain[1]).retries.get(), 1u);
}

TEST_F(ExchangeTest, ConnectTimedOutIsRetriedForAnyMethod) {
  const auto chain = order("/ct");
  connectTimeout.insert(chain[0]);
  EXPECT_EQ(exchange("POST /ct HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"), ok(chain[1]));
  EXPECT_EQ(errors(chain[0], UpstreamError::Connect), 1u);
  EXPECT_TRUE(ejected(chain[0]));
}

TEST_F(ExchangeTest, SendResetOnANewConnectionIsRetriedOnlyForIdempotentMethods) {
  const auto chain = order("/s");
  dropOnConnect.insert(chain[0]);
  EXPECT_EQ(exchange("GET /s HTTP/1.1\r\nHost: h\r\n\r\n"), ok(chain[1]));
  EXPECT_EQ(errors(chain[0], UpstreamError::Reset), 1u);
  EXPECT_TRUE(ejected(chain[0]));

  health.get(chain[0])->clearEjection();
  connects.clear();
  const auto reply = exchange("POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_EQ(reply.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("the member reset the connection"), std::string::npos) << reply;
  EXPECT_EQ(connects.count(chain[1]), 0u);
  EXPECT_EQ(errors(chain[0], UpstreamError::Reset), 2u);
}

TEST_F(ExchangeTest, AStalePooledConnectionIsRetriedOnTheSameMemberWithoutBlame) {
  const auto owner = order("/stale")[0];
  // The member answers the first request, then closes the kept-alive connection on the second.
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "<close>"};
  const auto reply = exchange("GET /stale HTTP/1.1\r\nHost: h\r\n\r\nGET /stale HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply, ok("ok") + ok(owner));
  EXPECT_EQ(connects[owner], 2);
  EXPECT_EQ(received[owner].size(), 3u);
  EXPECT_EQ(allErrors(owner), 0u);
  EXPECT_FALSE(ejected(owner));
  EXPECT_EQ(metrics.memberStats(0, owner).retries.get(), 0u);
}

TEST_F(ExchangeTest, ResetBeforeResponseOnANewConnectionBlamesTheMember) {
  const auto chain = order("/r");
  scripts[chain[0]].responses = {"<close>"};
  EXPECT_EQ(exchange("GET /r HTTP/1.1\r\nHost: h\r\n\r\n"), ok(chain[1]));
  EXPECT_EQ(errors(chain[0], UpstreamError::Reset), 1u);
  EXPECT_TRUE(ejected(chain[0]));
  EXPECT_EQ(connects[chain[0]], 1);  // a new connection is not stale: no second try at the same member
}

TEST_F(ExchangeTest, ResetInResponseHeadBlamesTheMemberEvenOnAPooledConnection) {
  const auto chain = order("/half");
  // Part of a head came on the kept-alive connection: the member was alive, so it was not stale.
  scripts[chain[0]].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                                 "HTTP/1.1 200 OK\r\nContent-Le<then-close>"};
  const auto reply = exchange("GET /half HTTP/1.1\r\nHost: h\r\n\r\nGET /half HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply, ok("ok") + ok(chain[1]));
  EXPECT_EQ(errors(chain[0], UpstreamError::Reset), 1u);
  EXPECT_TRUE(ejected(chain[0]));
  EXPECT_EQ(connects[chain[0]], 1);
}

TEST_F(ExchangeTest, ResponseTimedOutCountsTimeoutAndTriesTheNextMember) {
  const auto chain = order("/slow");
  scripts[chain[0]].responses = {"<silent>"};
  EXPECT_EQ(exchange("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", nullptr, expireAfter20ms()), ok(chain[1]));
  EXPECT_EQ(errors(chain[0], UpstreamError::Timeout), 1u);
  EXPECT_TRUE(ejected(chain[0]));
  EXPECT_FALSE(ejected(chain[1]));
}

TEST_F(ExchangeTest, InvalidResponseCountsProtocolEjectsAndIsNotRetried) {
  const auto chain = order("/bad");
  for (const char* response : {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
                               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabEXTRA"}) {
    health.get(chain[0])->clearEjection();
    scripts[chain[0]].responses = {response};
    const auto reply = exchange("GET /bad HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << reply;
    EXPECT_TRUE(ejected(chain[0])) << response;
  }
  EXPECT_EQ(errors(chain[0], UpstreamError::Protocol), 2u);
  EXPECT_EQ(connects.count(chain[1]), 0u);
}

TEST_F(ExchangeTest, UploadResetIs502AndNotReplayed) {
  const auto chain = order("/upload");
  scripts[chain[0]].responses = {"<early>"};
  const auto reply = exchange("PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n" + std::string(200'000, 'u'));
  EXPECT_NE(reply.find("the member failed while receiving the request body"), std::string::npos) << reply.substr(0, 300);
  EXPECT_EQ(errors(chain[0], UpstreamError::Reset), 1u);
  EXPECT_TRUE(ejected(chain[0]));
  EXPECT_EQ(connects.count(chain[1]), 0u);
}

TEST_F(ExchangeTest, ABadBodyFromTheClientIsNotTheMembersFault) {
  const auto owner = order("/up")[0];
  // The bad chunk comes after the first buffer, so the request has already gone to the member.
  const auto reply = exchange("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" +
                              std::string(4096, 'u') + "\r\nzz\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << reply;
  EXPECT_EQ(connects[owner], 1);
  EXPECT_EQ(allErrors(owner), 0u);
  EXPECT_FALSE(ejected(owner));
  EXPECT_EQ(counter("none", 4), 1u);  // a local reply
  EXPECT_EQ(counter(owner, 4), 0u);
}

TEST_F(ExchangeTest, AServerErrorIsRelayedAndCountsAgainstHealthOnly) {
  const auto chain = order("/err");
  scripts[chain[0]].responses = {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"};
  const auto reply = exchange("GET /err HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << reply;
  EXPECT_TRUE(ejected(chain[0]));
  EXPECT_EQ(allErrors(chain[0]), 0u);
  EXPECT_EQ(connects.count(chain[1]), 0u);
  EXPECT_EQ(counter(chain[0], 5), 1u);
}

TEST_F(ExchangeTest, AResponseResetsTheFailureStreak) {
  config.passiveHealth.consecutiveFailures = 2;
  const EjectionPolicy policy{2, 1'000'000'000, 2'000'000'000};
  const auto owner = order("/fine")[0];
  auto memberHealth = health.get(owner);
  memberHealth->recordFailure(coarseNanos(), policy);
  EXPECT_EQ(exchange("GET /fine HTTP/1.1\r\nHost: h\r\n\r\n"), ok(owner));
  memberHealth->recordFailure(coarseNanos(), policy);
  EXPECT_FALSE(ejected(owner));  // without the success in between, this would be the second failure in a row
}

TEST_F(ExchangeTest, RelayTimedOutCutsTheResponseAndCountsTimeoutOnly) {
  const auto owner = order("/big")[0];
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + std::string(6000, 'b') + "<hold>"};
  const auto reply = exchange("GET /big HTTP/1.1\r\nHost: h\r\n\r\n", nullptr, expireAfter20ms());
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply.substr(0, 200);
  EXPECT_LT(reply.size(), 10000u);
  EXPECT_EQ(errors(owner, UpstreamError::Timeout), 1u);
  EXPECT_FALSE(ejected(owner));
  EXPECT_EQ(counter(owner, 2), 0u);  // an unfinished response is not counted as answered
}

TEST_F(ExchangeTest, RelayResetCutsTheResponseAndCountsResetOnly) {
  const auto owner = order("/big")[0];
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + std::string(6000, 'b') + "<then-close>"};
  const auto reply = exchange("GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /big HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply.substr(0, 200);
  EXPECT_EQ(reply.find("HTTP/1.1", 10), std::string::npos);  // the connection closed: no second response
  EXPECT_EQ(errors(owner, UpstreamError::Reset), 1u);
  EXPECT_FALSE(ejected(owner));
  EXPECT_EQ(connects[owner], 1);
}

TEST_F(ExchangeTest, RelayInvalidCutsTheResponseAndCountsProtocolOnly) {
  const auto owner = order("/chunks")[0];
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + std::string(4096, 'c') +
                              "\r\nzz\r\n"};
  const auto reply = exchange("GET /chunks HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply.substr(0, 200);
  EXPECT_EQ(reply.find("zz"), std::string::npos);  // the invalid bytes never reach the client
  EXPECT_EQ(errors(owner, UpstreamError::Protocol), 1u);
  EXPECT_FALSE(ejected(owner));
}

}  // namespace
}  // namespace ringlb::proxy
