// The translation between the HTTP/1.1 messages the exchange forwards and
// relays and the HTTP/2 streams an h2c member speaks.
#include "h2c_message.h"

#include <gtest/gtest.h>

namespace ringlb::proxy {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

TEST(H2cMessage, RequestHeadBecomesPseudoFieldsWithoutConnectionSpecificOnes) {
  H2cRequestFields out;
  const HttpError error = toH2cRequest(
      "POST /echo.Echo/Say?x=1 HTTP/1.1\r\nHost: svc:50051\r\nContent-Type: application/grpc\r\n"
      "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n"
      "Upgrade: foo\r\nProxy-Connection: x\r\nX-User-Id:  alice \r\n\r\n",
      "http", out);
  ASSERT_FALSE(error) << error.reason;
  EXPECT_EQ(out.fields, (Fields{{":method", "POST"},
                                {":scheme", "http"},
                                {":path", "/echo.Echo/Say?x=1"},
                                {":authority", "svc:50051"},
                                {"content-type", "application/grpc"},
                                {"te", "trailers"},
                                {"x-user-id", "alice"}}));
}

TEST(H2cMessage, TeOtherThanTrailersIsDroppedAndAbsoluteFormGivesTheAuthority) {
  H2cRequestFields out;
  ASSERT_FALSE(toH2cRequest("GET http://example.com:8080/a/b HTTP/1.1\r\nHost: other\r\nTE: gzip\r\n\r\n", "http", out));
  EXPECT_EQ(out.fields, (Fields{{":method", "GET"}, {":scheme", "http"}, {":path", "/a/b"}, {":authority", "example.com:8080"}}));
}

TEST(H2cMessage, AGrpcRequestThatLostItsTeGetsItBack) {
  H2cRequestFields out;
  ASSERT_FALSE(toH2cRequest("POST /s/m HTTP/1.1\r\nhost: h\r\ncontent-type: application/grpc+proto\r\n\r\n", "http", out));
  EXPECT_EQ(out.fields.back(), (std::pair<std::string, std::string>{"te", "trailers"}));
}

TEST(H2cMessage, NoHostLeavesNoAuthority) {
  H2cRequestFields out;
  ASSERT_FALSE(toH2cRequest("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", "http", out));
  EXPECT_EQ(out.fields, (Fields{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"accept", "*/*"}}));
}

TEST(H2cMessage, MalformedHeadsAreErrors) {
  H2cRequestFields out;
  EXPECT_EQ(toH2cRequest("GET /", "http", out).status, 502);
  EXPECT_EQ(toH2cRequest("GET / HTTP/1.1\r\nNoColon\r\n\r\n", "http", out).status, 502);
  EXPECT_EQ(toH2cRequest("GET / HTTP/1.1\r\nHost: a\r\n", "http", out).status, 502) << "no blank line";
}

TEST(H2cMessage, ResponseHeadIsChunkedUnlessItHasALengthOrNoBody) {
  EXPECT_EQ(http1HeadFromH2c(200, "content-type: application/grpc\r\n", false, false),
            "HTTP/1.1 200 \r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n");
  EXPECT_EQ(http1HeadFromH2c(200, "content-length: 2\r\n", true, false), "HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\n");
  EXPECT_EQ(http1HeadFromH2c(204, "", false, true), "HTTP/1.1 204 \r\n\r\n");
}

TEST(H2cMessage, ChunksAndTheTrailerSection) {
  std::string out;
  appendChunk(out, "");
  EXPECT_EQ(out, "") << "an empty chunk would end the body";
  appendChunk(out, std::string(26, 'x'));
  EXPECT_EQ(out, "1a\r\n" + std::string(26, 'x') + "\r\n");
  out.clear();
  appendLastChunk(out, "grpc-status: 0\r\ngrpc-message: \r\n");
  EXPECT_EQ(out, "0\r\ngrpc-status: 0\r\ngrpc-message: \r\n\r\n");
}

}  // namespace
}  // namespace ringlb::proxy
