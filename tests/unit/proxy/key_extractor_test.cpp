#include "key_extractor.h"
#include "ringlb/proxy/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringlb::proxy {
namespace {

class Keys : public ::testing::Test {
 protected:
  RequestKey key(const std::string& text, const std::string& spec) {
    text_ = text;
    HeadScanner scanner;
    EXPECT_EQ(scanner.scan(text_, 16384), HeadScanner::Status::Complete);
    head_ = std::string_view(text_).substr(0, scanner.length());
    EXPECT_FALSE(parseRequestHead(head_, {}, {fields_, tokens_}, request_));
    auto parsed = parseKeySpec(spec);
    EXPECT_TRUE(parsed.ok()) << spec;
    return extractKey(head_, request_, parsed.value(), "192.0.2.7");
  }

  std::string text_;
  std::string_view head_;
  RequestHead request_;
  std::vector<HeaderField> fieldStorage_ = std::vector<HeaderField>(100);
  std::vector<std::string_view> tokenStorage_ = std::vector<std::string_view>(32);
  std::span<HeaderField> fields_{fieldStorage_};
  std::span<std::string_view> tokens_{tokenStorage_};
};

TEST_F(Keys, PathAndPathAndQuery) {
  const std::string request = "GET /planetary/apod?date=2020-01-01&x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(key(request, "path").key, "/planetary/apod");
  EXPECT_EQ(key(request, "pathAndQuery").key, "/planetary/apod?date=2020-01-01&x=1");
  EXPECT_EQ(key(request, "query:date").key, "2020-01-01");
  EXPECT_EQ(key(request, "query:x").key, "1");
  EXPECT_EQ(key("GET http://h:1/a/b?q=2 HTTP/1.1\r\nHost: h:1\r\n\r\n", "path").key, "/a/b");
  EXPECT_EQ(key("GET http://h:1?q=2 HTTP/1.1\r\nHost: h:1\r\n\r\n", "pathAndQuery").key, "?q=2");
  EXPECT_EQ(key("GET http://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n", "path").key, "/");
}

TEST_F(Keys, HeaderCookieAndSourceIp) {
  const std::string request =
      "GET /p HTTP/1.1\r\nHost: h\r\nX-User: alice\r\nCookie: a=1; session=s-42; b=2\r\n\r\n";
  EXPECT_EQ(key(request, "header:x-user").key, "alice");
  EXPECT_EQ(key(request, "cookie:session").key, "s-42");
  EXPECT_EQ(key(request, "cookie:b").key, "2");
  EXPECT_EQ(key(request, "sourceIP").key, "192.0.2.7");
  EXPECT_FALSE(key(request, "header:x-user").fallback);
}

TEST_F(Keys, MissingSourcesFallBackToThePath) {
  const std::string request = "GET /p/q?z=1 HTTP/1.1\r\nHost: h\r\nCookie: other=1\r\n\r\n";
  for (const char* spec : {"header:x-user", "cookie:session", "query:date"}) {
    const auto k = key(request, spec);
    EXPECT_EQ(k.key, "/p/q") << spec;
    EXPECT_TRUE(k.fallback) << spec;
  }
  const auto empty = key("GET /p?date= HTTP/1.1\r\nHost: h\r\n\r\n", "query:date");
  EXPECT_EQ(empty.key, "/p");
  EXPECT_TRUE(empty.fallback);
}

}  // namespace
}  // namespace ringlb::proxy
