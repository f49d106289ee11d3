#include "head_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringlb::proxy {
namespace {

using namespace std::literals;

struct Parsed {
  HttpError error;
  RequestHead head;
  std::string text;
};

class RequestParse : public ::testing::Test {
 protected:
  // Scans then parses like a session: returns the scanner's or the parser's verdict.
  HttpError parse(const std::string& text, HeadLimits limits = {}) {
    text_ = text;
    HeadScanner scanner;
    const auto status = scanner.scan(text_, limits.maxBytes);
    if (status == HeadScanner::Status::Error) return scanner.error();
    if (status == HeadScanner::Status::NeedMore) return {1, "need more"};
    head_ = std::string_view(text_).substr(scanner.skipped(), scanner.length());
    return parseRequestHead(head_, limits, {fields_, tokens_}, request_);
  }
  std::string_view field(std::size_t i) const { return fieldValue(head_, request_.fields[i]); }

  std::string text_;
  std::string_view head_;
  RequestHead request_;
  std::vector<HeaderField> fieldStorage_ = std::vector<HeaderField>(100);
  std::vector<std::string_view> tokenStorage_ = std::vector<std::string_view>(32);
  std::span<HeaderField> fields_{fieldStorage_};
  std::span<std::string_view> tokens_{tokenStorage_};
};

TEST_F(RequestParse, ParsesASimpleGet) {
  ASSERT_FALSE(parse("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"));
  EXPECT_EQ(request_.method, Method::Get);
  EXPECT_EQ(head_.substr(request_.target, request_.targetLength), "/a/b?x=1");
  EXPECT_EQ(request_.versionMinor, 1);
  EXPECT_EQ(request_.fields.size(), 2u);
  EXPECT_EQ(field(0), "example.com");
  EXPECT_EQ(request_.host, 0);
  EXPECT_TRUE(request_.keepAlive);
  EXPECT_EQ(request_.framing, BodyFraming::None);
}

TEST_F(RequestParse, TrimsOptionalWhitespaceAroundValues) {
  ASSERT_FALSE(parse("GET / HTTP/1.1\r\nHost:   h  \r\nX-A:\tv w\t\r\n\r\n"));
  EXPECT_EQ(field(0), "h");
  EXPECT_EQ(field(1), "v w");
}

TEST_F(RequestParse, ToleratesLeadingBlankLines) {
  ASSERT_FALSE(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(request_.method, Method::Get);
}

TEST_F(RequestParse, ReadsFramingAndConnection) {
  ASSERT_FALSE(parse("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nConnection: close, X-Trace\r\n\r\n"));
  EXPECT_EQ(request_.framing, BodyFraming::Length);
  EXPECT_EQ(request_.contentLength, 12u);
  EXPECT_FALSE(request_.keepAlive);
  ASSERT_EQ(request_.connectionTokens.size(), 1u);
  EXPECT_EQ(request_.connectionTokens[0], "X-Trace");

  ASSERT_FALSE(parse("PUT /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"));
  EXPECT_EQ(request_.framing, BodyFraming::Chunked);

  ASSERT_FALSE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_TRUE(request_.keepAlive);
  ASSERT_FALSE(parse("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_FALSE(request_.keepAlive);
}

TEST_F(RequestParse, ExpectContinueOnlyMattersWithABody) {
  ASSERT_FALSE(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n"));
  EXPECT_TRUE(request_.expectContinue);
  ASSERT_FALSE(parse("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_FALSE(request_.expectContinue);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n").status, 417);
}

TEST_F(RequestParse, OnlyABodilessHttp11RequestThatListsUpgradeInConnectionMaySwitch) {
  ASSERT_FALSE(parse("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  ASSERT_GE(request_.upgrade, 0);
  EXPECT_EQ(field(static_cast<std::size_t>(request_.upgrade)), "websocket");
  const char* notSwitching[] = {
      "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",                                  // not in Connection
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n",                                  // no Upgrade field
      "GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",                         // HTTP/1.0
      "POST /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\n",  // a body
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: foo/2, H2C\r\n\r\n",            // offers h2c
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: foo\r\n\r\n",  // two fields
  };
  for (const char* text : notSwitching) {
    ASSERT_FALSE(parse(text)) << text;
    EXPECT_EQ(request_.upgrade, -1) << text;
  }
}

TEST_F(RequestParse, AcceptsAbsoluteAndAsteriskForms) {
  ASSERT_FALSE(parse("GET http://h:8/x?y HTTP/1.1\r\nHost: h:8\r\n\r\n"));
  EXPECT_TRUE(request_.absoluteForm);
  ASSERT_FALSE(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_EQ(parse("GET * HTTP/1.1\r\nHost: h\r\n\r\n").status, 400);
}

// Every request-smuggling and malformed shape the proxy must refuse, with the status it answers.
struct BadRequest {
  const char* name;
  std::string_view text;
  unsigned status;
};

const BadRequest kBadRequests[] = {
    {"te_and_cl", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"cl_and_te", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
    {"duplicate_cl_same", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
    {"duplicate_cl_differs", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
    {"cl_list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400},
    {"cl_sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400},
    {"cl_negative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
    {"cl_hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400},
    {"cl_overflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
    {"cl_empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400},
    {"te_not_chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
    {"te_chunked_not_last", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
    {"te_obfuscated", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
    {"te_duplicate", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"te_in_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"space_before_colon", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n", 400},
    {"tab_before_colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A\t: 5\r\n\r\n", 400},
    {"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400},
    {"obs_fold_tab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", 400},
    {"bare_lf_line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
    {"bare_lf_end", "GET / HTTP/1.1\r\nHost: h\n\n", 400},
    {"bare_cr_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400},
    {"bare_cr_in_request_line", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"nul_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"sv, 400},
    {"control_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01" "b\r\n\r\n", 400},
    {"empty_name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400},
    {"bad_name_char", "GET / HTTP/1.1\r\nHost: h\r\nX(A): v\r\n\r\n", 400},
    {"no_colon", "GET / HTTP/1.1\r\nHost: h\r\nGarbage\r\n\r\n", 400},
    {"missing_host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400},
    {"duplicate_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"bad_host", "GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400},
    {"double_space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"tab_separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"no_version", "GET /\r\nHost: h\r\n\r\n", 400},
    {"bad_version", "GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400},
    {"http2_version", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"lowercase_version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400},
    {"space_in_target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"fragment_in_target", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"non_ascii_target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"relative_target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"connect", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501},
    {"bad_method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"bad_connection_token", "GET / HTTP/1.1\r\nHost: h\r\nConnection: a b\r\n\r\n", 400},
};

class BadRequests : public RequestParse, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(BadRequests, AreRefusedWithTheRightStatus) {
  const auto& bad = GetParam();
  const std::string text(bad.text);
  const auto error = parse(text);
  EXPECT_EQ(error.status, bad.status) << bad.name << ": " << error.reason;
  EXPECT_FALSE(error.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(Smuggling, BadRequests, ::testing::ValuesIn(kBadRequests),
                         [](const auto& param) { return std::string(param.param.name); });

TEST_F(RequestParse, EnforcesSizeAndCountLimits) {
  HeadLimits limits{256, 4};
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n";
  EXPECT_EQ(parse(big, limits).status, 431);
  EXPECT_EQ(parse("GET /" + std::string(300, 'a') + " HTTP/1.1\r\n", limits).status, 414);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits).status, 431);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits));
}

TEST(HeadScanner, WaitsForTheBlankLineAcrossCalls) {
  HeadScanner scanner;
  std::string data = "GET / HTTP/1.1\r\nHo";
  EXPECT_EQ(scanner.scan(data, 1024), HeadScanner::Status::NeedMore);
  data += "st: h\r\n\r";
  EXPECT_EQ(scanner.scan(data, 1024), HeadScanner::Status::NeedMore);
  data += "\nGET /next";
  ASSERT_EQ(scanner.scan(data, 1024), HeadScanner::Status::Complete);
  EXPECT_EQ(scanner.length(), data.find("GET /next"));
}

class ResponseParse : public RequestParse {
 protected:
  HttpError parseResponse(const std::string& text, Method method = Method::Get) {
    text_ = text;
    HeadScanner scanner;
    if (scanner.scan(text_, 16384) != HeadScanner::Status::Complete) return {1, "incomplete"};
    head_ = std::string_view(text_).substr(0, scanner.length());
    return parseResponseHead(head_, {}, method, {fields_, tokens_}, response_);
  }
  ResponseHead response_;
};

TEST_F(ResponseParse, ReadsStatusAndFraming) {
  ASSERT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_EQ(response_.status, 200);
  EXPECT_EQ(response_.framing, BodyFraming::Length);
  EXPECT_TRUE(response_.keepAlive);
  ASSERT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"));
  EXPECT_EQ(response_.framing, BodyFraming::Chunked);
  ASSERT_FALSE(parseResponse("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_EQ(response_.framing, BodyFraming::UntilClose);
  EXPECT_FALSE(response_.keepAlive);
  ASSERT_FALSE(parseResponse("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_EQ(response_.framing, BodyFraming::None);
  ASSERT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::Head));
  EXPECT_EQ(response_.framing, BodyFraming::None);
  ASSERT_FALSE(parseResponse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(response_.framing, BodyFraming::None);
  ASSERT_FALSE(parseResponse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"));
  EXPECT_FALSE(response_.keepAlive);
}

TEST_F(ResponseParse, A101HasNoBodyAndNamesItsProtocol) {
  ASSERT_FALSE(parseResponse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
  EXPECT_EQ(response_.status, 101);
  EXPECT_EQ(response_.framing, BodyFraming::None);
  ASSERT_GE(response_.upgrade, 0);
  EXPECT_EQ(fieldValue(head_, response_.fields[static_cast<std::size_t>(response_.upgrade)]), "websocket");
  ASSERT_FALSE(parseResponse("HTTP/1.1 101 Switching Protocols\r\n\r\n"));
  EXPECT_EQ(response_.upgrade, -1);
}

TEST_F(ResponseParse, RefusesInvalidFraming) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 600 OK\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX A: a\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: a\x01\r\n\r\n",
  };
  for (const char* text : bad) {
    EXPECT_EQ(parseResponse(text).status, 502) << text;
  }
}

// RFC 9112 §6.3: chunked applied more than once, or anywhere but last, is invalid framing.
TEST_F(ResponseParse, RefusesChunkedTwiceOrNotLast) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
  };
  for (const char* text : bad) {
    EXPECT_EQ(parseResponse(text).status, 502) << text;
  }
  ASSERT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, deflate, chunked\r\n\r\n"));
  EXPECT_EQ(response_.framing, BodyFraming::Chunked);
}

}  // namespace
}  // namespace ringlb::proxy
