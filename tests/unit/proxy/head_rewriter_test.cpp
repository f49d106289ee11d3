#include "head_rewriter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringlb::proxy {
namespace {

class Rewriting : public ::testing::Test {
 protected:
  std::string rewriteRequest(const std::string& text, RequestRewriteContext context = {"127.0.0.9", "http", "ringlb", 1, 2}) {
    buffer_ = text;
    HeadScanner scanner;
    EXPECT_EQ(scanner.scan(buffer_, 16384), HeadScanner::Status::Complete);
    RequestHead head;
    EXPECT_FALSE(parseRequestHead(std::string_view(buffer_).substr(0, scanner.length()), {}, {fields_, tokens_}, head));
    std::vector<char> extra(4096);
    const auto rewrite = rewriteRequestHead({buffer_.data(), scanner.length()}, head, context, extra);
    EXPECT_GT(rewrite.length, 0u);
    return buffer_.substr(0, rewrite.length) + std::string(extra.data(), rewrite.extraLength);
  }
  std::string rewriteResponse(const std::string& text, std::uint8_t clientMinor, bool close) {
    buffer_ = text;
    HeadScanner scanner;
    EXPECT_EQ(scanner.scan(buffer_, 16384), HeadScanner::Status::Complete);
    ResponseHead head;
    EXPECT_FALSE(parseResponseHead(std::string_view(buffer_).substr(0, scanner.length()), {}, Method::Get, {fields_, tokens_}, head));
    std::vector<char> extra(4096);
    const auto rewrite = rewriteResponseHead({buffer_.data(), scanner.length()}, head, clientMinor, close, "ringlb", extra);
    return buffer_.substr(0, rewrite.length) + std::string(extra.data(), rewrite.extraLength);
  }

  std::string buffer_;
  std::vector<HeaderField> fieldStorage_ = std::vector<HeaderField>(100);
  std::vector<std::string_view> tokenStorage_ = std::vector<std::string_view>(32);
  std::span<HeaderField> fields_{fieldStorage_};
  std::span<std::string_view> tokens_{tokenStorage_};
};

TEST_F(Rewriting, AddsForwardingFieldsAndKeepsEverythingElseByteForByte) {
  const auto out = rewriteRequest("GET /x?y HTTP/1.1\r\nHost: shop.example:8080\r\nAccept: */*\r\nX-Custom:  keep me \r\n\r\n");
  EXPECT_EQ(out,
            "GET /x?y HTTP/1.1\r\nHost: shop.example:8080\r\nAccept: */*\r\nX-Custom:  keep me \r\n"
            "X-Forwarded-For: 127.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example:8080\r\n"
            "Via: 1.1 ringlb\r\nX-Request-Id: 00000000-0000-4001-8000-000000000002\r\n\r\n");
}

TEST_F(Rewriting, StripsHopByHopFieldsAndThoseNamedInConnection) {
  const auto out = rewriteRequest(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, Content-Length\r\nKeep-Alive: timeout=5\r\n"
      "X-Secret: s\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Kept: 1\r\n"
      "Content-Length: 0\r\nX-Request-Id: abc\r\n\r\n");
  EXPECT_EQ(out.find("Connection:"), std::string::npos) << out;
  EXPECT_EQ(out.find("Keep-Alive"), std::string::npos);
  EXPECT_EQ(out.find("X-Secret"), std::string::npos);
  EXPECT_EQ(out.find("TE:"), std::string::npos);
  EXPECT_EQ(out.find("Upgrade"), std::string::npos);
  EXPECT_NE(out.find("X-Kept: 1\r\n"), std::string::npos);
  // Framing fields survive even when Connection names them.
  EXPECT_NE(out.find("Content-Length: 0\r\n"), std::string::npos);
  // An existing request id is kept, not replaced.
  EXPECT_NE(out.find("X-Request-Id: abc\r\n"), std::string::npos);
  EXPECT_EQ(out.find("X-Request-Id: 0"), std::string::npos);
}

// Found by the head_rewriter fuzz target's property: the client's id was dropped as
// hop-by-hop and none was added, so the member saw no X-Request-Id.
TEST_F(Rewriting, RequestIdNamedInConnectionIsReplacedNotLost) {
  const auto out = rewriteRequest("GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Request-Id\r\nX-Request-Id: abc\r\n\r\n");
  EXPECT_EQ(out.find("X-Request-Id: abc"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Request-Id: 00000000-0000-4001-8000-000000000002\r\n"), std::string::npos) << out;
}

TEST_F(Rewriting, AppendsToForwardedForAndViaAndReplacesProtoAndHost) {
  const auto out = rewriteRequest(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nVia: 1.0 edge\r\nX-Forwarded-For: 2.2.2.2\r\n"
      "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_NE(out.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 127.0.0.9\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Via: 1.0 edge, 1.1 ringlb\r\n"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
  EXPECT_EQ(out.find("https"), std::string::npos);
  EXPECT_EQ(out.find("evil"), std::string::npos);
  EXPECT_EQ(out.find("Expect"), std::string::npos);
}

TEST_F(Rewriting, AsksForKeepAliveUpstreamForHttp10Clients) {
  const auto out = rewriteRequest("GET / HTTP/1.0\r\n\r\n");
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_NE(out.find("Via: 1.0 ringlb\r\n"), std::string::npos);
}

TEST_F(Rewriting, FailsCleanlyWhenTheExtraSpaceIsTooSmall) {
  buffer_ = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  HeadScanner scanner;
  ASSERT_EQ(scanner.scan(buffer_, 1024), HeadScanner::Status::Complete);
  RequestHead head;
  ASSERT_FALSE(parseRequestHead(buffer_, {}, {fields_, tokens_}, head));
  std::vector<char> extra(16);
  EXPECT_EQ(rewriteRequestHead({buffer_.data(), buffer_.size()}, head, {"1.2.3.4"}, extra).length, 0u);
}

TEST_F(Rewriting, ResponsesLoseHopByHopFieldsAndGetVia) {
  auto out = rewriteResponse("HTTP/1.1 200 OK\r\nConnection: close, X-Internal\r\nX-Internal: 1\r\nContent-Length: 2\r\nKeep-Alive: x\r\n\r\n", 1, false);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 ringlb\r\n\r\n");
  out = rewriteResponse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 0, false);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 ringlb\r\nConnection: keep-alive\r\n\r\n");
  out = rewriteResponse("HTTP/1.1 200 OK\r\nVia: 1.1 inner\r\nContent-Length: 2\r\n\r\n", 1, true);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 inner, 1.1 ringlb\r\nConnection: close\r\n\r\n");
}

TEST_F(Rewriting, AnUpgradeRequestAndIts101KeepUpgradeAndSayConnectionUpgrade) {
  auto out = rewriteRequest(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade, X-Hop\r\nUpgrade: websocket\r\nX-Hop: 1\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Request-Id: r\r\n\r\n");
  EXPECT_EQ(out,
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "X-Request-Id: r\r\nX-Forwarded-For: 127.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
            "Via: 1.1 ringlb\r\nConnection: upgrade\r\n\r\n");
  out = rewriteResponse(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", 1,
      true);
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\nVia: 1.1 ringlb\r\n"
            "Connection: upgrade\r\n\r\n");
}

TEST(RequestId, IsAVersion4Uuid) {
  char id[36];
  formatRequestId(0x0123456789abcdefULL, 0xfedcba9876543210ULL, id);
  const std::string text(id, 36);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    EXPECT_EQ(text[i] == '-', dash) << text;
    if (!dash) {
      EXPECT_NE(std::string_view("0123456789abcdef").find(text[i]), std::string_view::npos) << text;
    }
  }
  EXPECT_EQ(text[14], '4');                                           // version 4
  EXPECT_NE(std::string_view("89ab").find(text[19]), std::string_view::npos);  // variant 10xx
  EXPECT_EQ(text, "01234567-89ab-4def-bedc-ba9876543210");
}

}  // namespace
}  // namespace ringlb::proxy
