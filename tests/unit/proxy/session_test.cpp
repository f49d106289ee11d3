// Sessions driven on beast::test::stream: the exact bytes each side sees, and
// a fail_count loop that makes every operation fail in turn.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include "health_registry.h"
#include "proxy_metrics.h"
#include "ring_publisher.h"
#include "ring_store.h"
#include "ringlb/ring/hash.h"
#include "session_fixture.h"
#include "session_impl.h"
#include "test_net.h"
#include "worker_state_impl.h"

namespace ringlb::proxy {

template class WorkerState<TestNet>;
template class Session<TestNet>;

namespace {

using test_support::SessionTest;
using test_support::serveToEnd;
namespace test = boost::beast::test;

TEST_F(SessionTest, ForwardsToTheOwnerWithForwardingFields) {
  const auto owner = order("/item/1")[0];
  const auto reply = exchange("GET /item/1 HTTP/1.1\r\nHost: shop\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n");
  EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + owner);
  ASSERT_EQ(received[owner].size(), 1u);
  const auto& forwarded = received[owner][0];
  EXPECT_EQ(forwarded.rfind("GET /item/1 HTTP/1.1\r\nHost: shop\r\n", 0), 0u) << forwarded;
  EXPECT_NE(forwarded.find("X-Forwarded-For: 127.1.2.3\r\n"), std::string::npos);
  EXPECT_NE(forwarded.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
  EXPECT_NE(forwarded.find("X-Forwarded-Host: shop\r\n"), std::string::npos);
  EXPECT_NE(forwarded.find("Via: 1.1 ringlb\r\n"), std::string::npos);
  EXPECT_NE(forwarded.find("X-Request-Id: "), std::string::npos);
  EXPECT_EQ(forwarded.find("X-Hop"), std::string::npos);
  EXPECT_EQ(forwarded.find("Connection"), std::string::npos);
  EXPECT_EQ(counter(owner, 2), 1u);
}

TEST_F(SessionTest, InterleavedSessionsEachGetTheirOwnResponsesInOrder) {
  // Eight clients at once, three pipelined requests each. With other requests
  // in flight a session yields before each send (WorkerState::othersInFlight),
  // so the sessions interleave at every send; each must still use its own
  // member connection and relay its own responses, in order.
  echoPaths = true;
  std::vector<std::string> requests;
  std::vector<std::string> expected;
  std::map<std::string, std::size_t> perMember;
  for (int client = 0; client < 8; ++client) {
    std::string request;
    std::string reply;
    for (int n = 0; n < 3; ++n) {
      const auto path = "/client" + std::to_string(client) + "/request" + std::to_string(n);
      request += "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n";
      reply += "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(path.size()) + "\r\nVia: 1.1 ringlb\r\n\r\n" + path;
      ++perMember[order(path)[0]];
    }
    requests.push_back(request);
    expected.push_back(reply);
  }
  EXPECT_EQ(exchangeAll(requests), expected);
  for (const auto& [member, count] : perMember) EXPECT_EQ(received[member].size(), count) << member;
  EXPECT_GT(perMember.size(), 1u);  // the paths spread over several members
}

TEST_F(SessionTest, PipelinedRequestsShareOnePooledUpstreamConnection) {
  const auto owner = order("/same")[0];
  const auto reply = exchange("GET /same HTTP/1.1\r\nHost: h\r\n\r\nGET /same HTTP/1.1\r\nHost: h\r\n\r\n");
  const std::string one = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + owner;
  EXPECT_EQ(reply, one + one);
  EXPECT_EQ(received[owner].size(), 2u);
  EXPECT_EQ(connects[owner], 1);
}

TEST_F(SessionTest, ConnectFailuresGoToTheNextSuccessor) {
  const auto chain = order("/retry");
  refuse.insert(chain[0]);
  const auto reply = exchange("POST /retry HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
  EXPECT_EQ(reply.substr(reply.size() - 1), chain[1]);
  EXPECT_EQ(metrics.memberStats(0, chain[0]).upstreamErrors[0].get(), 1u);
  EXPECT_EQ(metrics.memberStats(0, chain[1]).retries.get(), 1u);
  ASSERT_EQ(received[chain[1]].size(), 1u);
  EXPECT_EQ(received[chain[1]][0].substr(received[chain[1]][0].size() - 3), "abc");
}

TEST_F(SessionTest, ResetBeforeAnyResponseRetriesIdempotentRequestsOnly) {
  const auto chain = order("/reset");
  scripts[chain[0]].responses = {"<close>"};
  auto reply = exchange("GET /reset HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
  EXPECT_EQ(reply.substr(reply.size() - 1), chain[1]);

  scripts[chain[0]].responses = {"<close>"};
  received.clear();
  reply = exchange("POST /reset HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_NE(reply.find("HTTP/1.1 502 Bad Gateway"), std::string::npos) << reply;
  EXPECT_NE(reply.find("closed the connection without a response"), std::string::npos);
  EXPECT_TRUE(received[chain[1]].empty());
}

TEST_F(SessionTest, AMemberDyingBetweenHeadAndBodyIsRetriedBeforeAnythingIsForwarded) {
  const auto chain = order("/dies");
  scripts[chain[0]].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc<then-close>"};
  const auto reply = exchange("GET /dies HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + chain[1]);
  EXPECT_EQ(metrics.memberStats(0, chain[0]).upstreamErrors[1].get(), 1u);
}

TEST_F(SessionTest, RetriesStopAtTheConfiguredCount) {
  config.retries = 1;
  for (const auto& id : {"a", "b", "c"}) refuse.insert(id);
  const auto reply = exchange("GET /none HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(reply.find("502 Bad Gateway"), std::string::npos);
  EXPECT_NE(reply.find("could not connect"), std::string::npos);
  int total = 0;
  for (auto& [member, n] : connects) total += n;
  EXPECT_EQ(total, 2);
}

TEST_F(SessionTest, InvalidUpstreamFramingIs502AndTheClientStaysInSync) {
  const auto owner = order("/bad")[0];
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nab",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabEXTRA",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nab\r\n0\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: a\x01\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
  };
  for (const char* response : bad) {
    scripts[owner].responses = {response};
    const auto reply = exchange("GET /bad HTTP/1.1\r\nHost: h\r\n\r\nGET /bad HTTP/1.1\r\nHost: h\r\n\r\n");
    // The bad response becomes a 502, and the pipelined second request is still answered correctly.
    EXPECT_EQ(reply.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << response << "\n" << reply;
    EXPECT_NE(reply.find("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + owner), std::string::npos)
        << response << "\n" << reply;
  }
}

TEST_F(SessionTest, OversizedUpstreamHeadIs502) {
  config.limits.maxHeaderBytes = 2048;
  const auto owner = order("/big")[0];
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nX-Big: " + std::string(4096, 'x') + "\r\nContent-Length: 0\r\n\r\n"};
  const auto reply = exchange("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << reply;
}

TEST_F(SessionTest, InterimResponsesAreDroppedAndChunkedBodiesRelayed) {
  const auto owner = order("/chunks")[0];
  scripts[owner].responses = {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"};
  const auto reply = exchange("POST /chunks HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n");
  EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.1 ringlb\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_EQ(received[owner].size(), 1u);
  EXPECT_NE(received[owner][0].find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(received[owner][0].substr(received[owner][0].size() - 14), "4\r\nwxyz\r\n0\r\n\r\n");
}

TEST_F(SessionTest, MalformedRequestsNeverReachAMember) {
  const char* bad[] = {
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\nHost: h\n\n",
  };
  for (const char* request : bad) {
    const auto reply = exchange(request);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << request << "\n" << reply;
    EXPECT_NE(reply.find("Connection: close"), std::string::npos);
  }
  EXPECT_TRUE(received.empty());
  EXPECT_TRUE(connects.empty());
  EXPECT_EQ(counter("none", 4), std::size(bad));
}

// A local answer to HEAD carries no body: a keep-alive client would read it as
// the next response. Every kind of local answer, each followed by a pipelined
// GET where the connection stays open, which must then be answered in sync.
TEST_F(SessionTest, LocalAnswersToHeadCarryNoBody) {
  config.limits.maxBodyBytes = 10;
  config.limits.maxHeaderBytes = 2048;
  const auto owner = order("/h")[0];
  const std::string get = "GET /h HTTP/1.1\r\nHost: h\r\n\r\n";
  const struct {
    std::string request;
    std::string status;
    bool keepAlive;
  } cases[] = {
      {"HEAD /h HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", "400 Bad Request", false},
      {"HEAD /h HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890", "413 Content Too Large", false},
      {"HEAD /" + std::string(4096, 'x') + " HTTP/1.1\r\nHost: h\r\n\r\n", "414 URI Too Long", false},
      {"HEAD /h HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n", "417 Expectation Failed", false},
      {"HEAD /h HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(4096, 'x') + "\r\n\r\n", "431 Request Header Fields Too Large", false},
      {"HEAD /h HTTP/2.0\r\nHost: h\r\n\r\n", "505 HTTP Version Not Supported", false},
      {"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n" + get, "502 Bad Gateway", true},
  };
  for (const auto& c : cases) {
    scripts[owner].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"};
    const auto reply = exchange(c.request);
    ASSERT_EQ(reply.rfind("HTTP/1.1 " + c.status + "\r\n", 0), 0u) << reply;
    const auto headEnd = reply.find("\r\n\r\n") + 4;
    if (c.keepAlive) {
      EXPECT_EQ(reply.substr(headEnd), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + owner) << reply;
    } else {
      EXPECT_EQ(headEnd, reply.size()) << reply;
    }
  }
  publish({"a", "b"}, ring::MemberState::NotReady);
  const auto reply = exchange("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n" + get);
  ASSERT_EQ(reply.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << reply;
  const auto second = reply.find("\r\n\r\n") + 4;
  EXPECT_EQ(reply.find("HTTP/1.1 503 Service Unavailable\r\n", second), second) << reply;
}

TEST_F(SessionTest, NoRingOrNoReadyMemberIs503) {
  publish({"a", "b"}, ring::MemberState::NotReady);
  auto reply = exchange("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("no member of the ring is Ready"), std::string::npos);
  // The connection stays usable: both requests got their 503.
  EXPECT_NE(reply.find("503", 20), std::string::npos);
  EXPECT_TRUE(connects.empty());
}

TEST_F(SessionTest, ASilentMemberTimesOutWith504AndOtherSessionsAreUnaffected) {
  config.retries = 0;
  const auto owner = order("/slow")[0];
  scripts[owner].responses = {"<silent>"};
  const auto reply = exchange("POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", nullptr,
                              [](asio::io_context& ioc, WorkerState<TestNet>& state) {
                                auto timer = std::make_shared<SteadyTimer>(ioc);
                                timer->expires_after(std::chrono::milliseconds(20));
                                timer->async_wait([timer, &state](error_code) { state.tick(coarseNanos() + 3'600'000'000'000LL); });
                              });
  EXPECT_EQ(reply.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0), 0u) << reply;
  EXPECT_EQ(metrics.memberStats(0, owner).upstreamErrors[2].get(), 1u);
}

TEST_F(SessionTest, LargeBodiesStreamThroughSmallBuffers) {
  config.limits.bufferBytes = 4096;
  config.limits.maxHeaderBytes = 2048;
  const auto owner = order("/upload")[0];
  std::string body;
  for (int i = 0; i < 20000; ++i) body += static_cast<char>('a' + i % 26);
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body};
  const auto reply = exchange("PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + body);
  ASSERT_GT(reply.size(), body.size());
  EXPECT_EQ(reply.substr(reply.size() - body.size()), body);
  ASSERT_EQ(received[owner].size(), 1u);
  EXPECT_EQ(received[owner][0].substr(received[owner][0].size() - body.size()), body);
}

TEST_F(SessionTest, AMemberThatAnswersBeforeTakingTheWholeBodyIsRelayedAndTheClientClosed) {
  config.limits.bufferBytes = 4096;
  config.limits.maxHeaderBytes = 2048;
  const auto owner = order("/upload")[0];
  scripts[owner].responses = {"<early>HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n"};
  const std::string body(2'000'000, 'u');
  const auto reply = exchange("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n" + body +
                              "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  // The member's answer, and nothing for the request behind the unread body.
  EXPECT_EQ(reply, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nVia: 1.1 ringlb\r\nConnection: close\r\n\r\ntoo big\n");
  EXPECT_EQ(counter(owner, 4), 1u);
  EXPECT_EQ(connects[owner], 1);  // not retried
}

TEST_F(SessionTest, AMemberThatResetsMidBodyWithoutAnAnswerIs502) {
  config.limits.bufferBytes = 4096;
  config.limits.maxHeaderBytes = 2048;
  const auto owner = order("/upload")[0];
  scripts[owner].responses = {"<early>"};
  const auto reply = exchange("PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n" + std::string(2'000'000, 'u'));
  EXPECT_EQ(reply.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("the member failed while receiving the request body"), std::string::npos) << reply.substr(0, 300);
  EXPECT_EQ(connects[owner], 1);  // a PUT whose body was partly sent is not replayed
}

// RFC 9110 §15.2: a proxy forwards 1xx responses to HTTP/1.1 clients; an
// HTTP/1.0 client cannot read them and gets only the final response.
TEST_F(SessionTest, EarlyHintsReachHttp11ClientsBeforeTheResponse) {
  const auto owner = order("/hints")[0];
  const std::string hints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
  scripts[owner].responses = {hints + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
                              hints + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny"};
  auto reply = exchange("GET /hints HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply, hints + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\nx");
  reply = exchange("GET /hints HTTP/1.0\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_EQ(reply.find("103"), std::string::npos) << reply;
}

TEST_F(SessionTest, BodyLimitIs413) {
  config.limits.maxBodyBytes = 10;
  auto reply = exchange("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890");
  EXPECT_EQ(reply.rfind("HTTP/1.1 413 ", 0), 0u) << reply;
  reply = exchange("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n01234567890\r\n0\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 413 ", 0), 0u) << reply;
  EXPECT_TRUE(connects.empty());
}

TEST_F(SessionTest, HeadRequestsHaveNoBodyEvenWithContentLength) {
  const auto owner = order("/head")[0];
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"};
  const auto reply = exchange("HEAD /head HTTP/1.1\r\nHost: h\r\n\r\nGET /head HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: 1.1 ringlb\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + owner);
}

// Like HAProxy and NGINX: the bodiless response is delivered without the stray
// bytes, and the member connection that carried them is not reused.
TEST_F(SessionTest, AHeadResponseFollowedByStrayBytesIsDeliveredAndItsConnectionDropped) {
  const auto owner = order("/stray")[0];
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray",
                              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"};
  const auto reply = exchange("HEAD /stray HTTP/1.1\r\nHost: h\r\n\r\nHEAD /stray HTTP/1.1\r\nHost: h\r\n\r\n");
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: 1.1 ringlb\r\n\r\n";
  EXPECT_EQ(reply, ok + ok);
  EXPECT_EQ(connects[owner], 2u);
  EXPECT_EQ(counter(owner, 2), 2u);
}

TEST_F(SessionTest, Http10ClientsAndUntilCloseBodiesCloseTheConnection) {
  const auto owner = order("/old")[0];
  scripts[owner].responses = {"HTTP/1.0 200 OK\r\n\r\nstreamed<then-close>"};
  const auto reply = exchange("GET /old HTTP/1.0\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(reply.substr(reply.size() - 8), "streamed");
}

// RFC 9112 §6.1: no chunked to an HTTP/1.0 recipient. The body goes
// de-chunked and delimited by the close, whether it fits the buffer or streams.
TEST_F(SessionTest, Http10ClientsGetChunkedBodiesDechunkedAndCloseDelimited) {
  config.limits.bufferBytes = 4096;
  const auto owner = order("/old")[0];
  std::string chunked;
  std::string payload;
  for (int i = 0; i < 10; ++i) {
    const std::string piece(1000, static_cast<char>('a' + i));
    chunked += "3e8\r\n" + piece + "\r\n";
    payload += piece;
  }
  scripts[owner].responses = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + "0\r\nX-T: 1\r\n\r\n"};
  auto reply = exchange("GET /old HTTP/1.0\r\n\r\n");
  EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nVia: 1.1 ringlb\r\nConnection: close\r\n\r\nabcde");
  reply = exchange("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(reply, "HTTP/1.1 200 OK\r\nVia: 1.1 ringlb\r\nConnection: close\r\n\r\n" + payload);
}

// The expectation goes to the member, which decides (issue 18): its 100 reaches
// the client, which then sends the body through; or its early final answer does,
// and the body is never sent. (Until issue 18 the proxy answered 100 itself and
// dropped the Expect field, and this test said so.)
TEST_F(SessionTest, ExpectContinueIsForwardedAndTheMembers100Relayed) {
  const auto owner = order("/expect")[0];
  scripts[owner].responses = {"<continue>HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
  const auto seen = expectContinueExchange("PUT /expect HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
                                           "body", "ok");
  EXPECT_EQ(seen, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 ringlb\r\n\r\nok");
  ASSERT_EQ(received[owner].size(), 1u);
  EXPECT_NE(received[owner][0].find("\r\nExpect: 100-continue\r\n"), std::string::npos) << received[owner][0];
  EXPECT_EQ(received[owner][0].substr(received[owner][0].size() - 4), "body");
}

TEST_F(SessionTest, AMembersEarlyAnswerToExpectContinueIsRelayedWithoutTheBody) {
  const auto owner = order("/expect")[0];
  scripts[owner].responses = {"<early>HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nbig!"};
  const auto seen = expectContinueExchange(
      "PUT /expect HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", "", "big!");
  EXPECT_EQ(seen, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\nVia: 1.1 ringlb\r\nConnection: close\r\n\r\nbig!");
  ASSERT_EQ(received[owner].size(), 1u);
  EXPECT_EQ(received[owner][0].substr(received[owner][0].size() - 4), "\r\n\r\n");  // the head only
  EXPECT_EQ(counter(owner, 4), 1u);
}

TEST_F(SessionTest, PassiveHealthEjectsAMemberAfterConsecutiveFailures) {
  config.passiveHealth.consecutiveFailures = 2;
  const auto chain = order("/eject");
  refuse.insert(chain[0]);
  exchange("GET /eject HTTP/1.1\r\nHost: h\r\n\r\nGET /eject HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(health.get(chain[0])->ejected(coarseNanos()));
  EXPECT_EQ(health.get(chain[0])->ejectionsTotal(), 1u);
  connects.clear();
  const auto reply = exchange("GET /eject HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(reply.substr(reply.size() - 1), chain[1]);
  EXPECT_EQ(connects.count(chain[0]), 0u);  // skipped without a connect attempt
}

constexpr std::string_view kUpgradeRequest =
    "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n";
constexpr std::string_view kSwitching = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
constexpr std::string_view kSwitchingForwarded =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nVia: 1.1 ringlb\r\nConnection: upgrade\r\n\r\n";

TEST_F(SessionTest, A101TurnsTheConnectionIntoATunnelToTheOwner) {
  const auto owner = order("/ws")[0];
  scripts[owner].responses = {std::string(kSwitching) + "hello<echo>"};
  // The client's first bytes in the new protocol come right behind its request.
  const auto reply = exchange(std::string(kUpgradeRequest) + "ping");
  EXPECT_EQ(reply, std::string(kSwitchingForwarded) + "hello" + "ping");
  ASSERT_EQ(received[owner].size(), 1u);
  EXPECT_NE(received[owner][0].find("\r\nUpgrade: websocket\r\n"), std::string::npos) << received[owner][0];
  EXPECT_NE(received[owner][0].find("\r\nConnection: upgrade\r\n"), std::string::npos) << received[owner][0];
  EXPECT_EQ(tunneled[owner], "ping");
  EXPECT_EQ(counter(owner, 1), 1u);  // counted once, as a 1xx
}

TEST_F(SessionTest, AnUpgradeTheMemberDeclinesIsAnOrdinaryExchange) {
  const auto owner = order("/ws")[0];
  const auto reply = exchange(std::string(kUpgradeRequest) + std::string(kUpgradeRequest));
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + owner;
  EXPECT_EQ(reply, ok + ok);
  EXPECT_EQ(received[owner].size(), 2u);
}

TEST_F(SessionTest, A101WithoutUpgradeIs502) {
  const auto owner = order("/ws")[0];
  scripts[owner].responses = {"HTTP/1.1 101 Switching Protocols\r\n\r\n"};
  const auto reply = exchange(std::string(kUpgradeRequest));
  EXPECT_EQ(reply.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u) << reply;
}

TEST_F(SessionTest, AnIdleTunnelIsClosedAfterTheTunnelTimeout) {
  config.timeouts.tunnel = std::chrono::seconds(1);
  const auto owner = order("/ws")[0];
  scripts[owner].responses = {std::string(kSwitching) + "<hold>"};
  const auto reply = exchange(std::string(kUpgradeRequest), nullptr, [](asio::io_context& ioc, WorkerState<TestNet>& state) {
    auto timer = std::make_shared<SteadyTimer>(ioc);
    timer->expires_after(std::chrono::milliseconds(20));
    timer->async_wait([timer, &state](error_code) { state.tick(coarseNanos() + 3'600'000'000'000LL); });
  });
  EXPECT_EQ(reply, kSwitchingForwarded);  // and the run ended: both streams were closed
}

// Every operation of a tunnelled exchange fails in turn; each run ends cleanly.
TEST_F(SessionTest, EveryFailurePointOfATunnelEndsCleanly) {
  const auto owner = order("/ws")[0];
  bool succeeded = false;
  std::size_t runs = 0;
  for (std::size_t n = 0; n < 200 && !succeeded; ++n, ++runs) {
    test::fail_count fc(n);
    tunneled.clear();
    scripts[owner].responses = {std::string(kSwitching) + "hello<echo>"};
    const auto reply = exchange(std::string(kUpgradeRequest) + "ping", &fc);
    succeeded = reply == std::string(kSwitchingForwarded) + "hello" + "ping";
  }
  EXPECT_TRUE(succeeded);
  EXPECT_GT(runs, 4u);
}

// Every operation of the exchange fails in turn; each run must end cleanly
// (no crash, no leak under ASan, the connection gauge back to zero), and the
// loop must reach a run in which nothing failed.
TEST_F(SessionTest, EveryFailurePointEndsCleanly) {
  const std::string body(3000, 'q');
  const std::string request = "POST /fail HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n" + body +
                              "\r\n0\r\n\r\nGET /fail HTTP/1.1\r\nHost: h\r\n\r\n";
  const auto owner = order("/fail")[0];
  config.limits.bufferBytes = 4096;
  config.limits.maxHeaderBytes = 1024;
  bool succeeded = false;
  std::size_t runs = 0;
  for (std::size_t n = 0; n < 500 && !succeeded; ++n, ++runs) {
    test::fail_count fc(n);
    received.clear();
    scripts[owner].responses = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"};
    const auto reply = exchange(request, &fc);
    const std::string second = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 ringlb\r\n\r\n" + owner;
    succeeded = reply.size() >= second.size() && reply.substr(reply.size() - second.size()) == second &&
                reply.rfind("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", 0) == 0;
  }
  EXPECT_TRUE(succeeded);
  EXPECT_GT(runs, 8u);  // the exchange has at least this many operations that can fail
}

TEST_F(SessionTest, EveryFailurePointOfConcurrentSessionsEndsCleanly) {
  // Several sessions at once wait for send turns (WorkerState::awaitSendTurn)
  // and are resumed by one another's pass; a failure anywhere, including a
  // retry queued while turns are being released, must still end cleanly.
  echoPaths = true;
  const std::vector<std::string> paths = {"/one", "/two", "/three", "/four", "/five"};
  std::vector<std::string> requests;
  std::vector<std::string> expected;
  for (const auto& path : paths) {
    requests.push_back("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\nGET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n");
    const auto one = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(path.size()) + "\r\nVia: 1.1 ringlb\r\n\r\n" + path;
    expected.push_back(one + one);
  }
  bool succeeded = false;
  std::size_t runs = 0;
  for (std::size_t n = 0; n < 1000 && !succeeded; ++n, ++runs) {
    test::fail_count fc(n);
    received.clear();
    succeeded = exchangeAll(requests, &fc) == expected;
  }
  EXPECT_TRUE(succeeded);
  EXPECT_GT(runs, 20u);  // five clients, two requests each: many operations that can fail
}

TEST_F(SessionTest, SendTurnsResumeTheWaitersOfEachMemberTogether) {
  asio::io_context ioc;
  TestNet net;
  WorkerState<TestNet> state(ioc, config, net, store, metrics, 0);
  ASSERT_TRUE(state.table());
  std::vector<std::string> resumed;
  const auto waiter = [&](std::uint32_t member, std::string name, bool again) -> Task<void> {
    co_await state.awaitSendTurn(state.group(member));
    resumed.push_back(name);
    // Queued while the turns are being released: waits for the next release.
    if (again) {
      co_await state.awaitSendTurn(state.group(member));
      resumed.push_back(name + " again");
    }
  };
  // Arrivals: a1 b1 a2 c1 b2 a3; each member's waiters go together, members in order of first arrival.
  asio::co_spawn(ioc, waiter(0, "a1", true), asio::detached);
  asio::co_spawn(ioc, waiter(1, "b1", false), asio::detached);
  asio::co_spawn(ioc, waiter(0, "a2", false), asio::detached);
  asio::co_spawn(ioc, waiter(2, "c1", false), asio::detached);
  asio::co_spawn(ioc, waiter(1, "b2", false), asio::detached);
  asio::co_spawn(ioc, waiter(0, "a3", false), asio::detached);
  ioc.run();
  EXPECT_EQ(resumed, (std::vector<std::string>{"a1", "a2", "a3", "b1", "b2", "c1", "a1 again"}));
}

TEST_F(SessionTest, DroppedSendTurnsEndTheirWaitersWithoutResumingThem) {
  asio::io_context ioc;
  TestNet net;
  WorkerState<TestNet> state(ioc, config, net, store, metrics, 0);
  ASSERT_TRUE(state.table());
  bool resumed = false;
  bool destroyed = false;
  struct OnDestroy {
    bool& flag;
    ~OnDestroy() { flag = true; }
  };
  const auto waiter = [&]() -> Task<void> {
    const OnDestroy guard{destroyed};
    co_await state.awaitSendTurn(state.group(0));
    resumed = true;
  };
  asio::co_spawn(ioc, waiter(), asio::detached);
  ASSERT_EQ(ioc.run_one(), 1u);  // the waiter starts and queues
  EXPECT_FALSE(destroyed);
  state.dropSendTurns();
  ioc.run();
  EXPECT_FALSE(resumed);
  EXPECT_TRUE(destroyed);
}

}  // namespace
}  // namespace ringlb::proxy
