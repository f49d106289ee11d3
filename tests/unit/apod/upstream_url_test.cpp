#include "ringlb/apod/upstream_url.h"

#include <gtest/gtest.h>

namespace ringlb::apod {
namespace {

TEST(UpstreamUrl, HttpsDefaultsToPort443) {
  auto url = UpstreamUrl::parse("https://api.nasa.gov");
  ASSERT_TRUE(url.ok()) << url.error();
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "api.nasa.gov");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->basePath, "");
  EXPECT_EQ(url->hostHeader(), "api.nasa.gov");
}

TEST(UpstreamUrl, HttpWithPortAndBasePath) {
  auto url = UpstreamUrl::parse("http://127.0.0.1:9000/mirror/");
  ASSERT_TRUE(url.ok()) << url.error();
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->basePath, "/mirror");
  EXPECT_EQ(url->hostHeader(), "127.0.0.1:9000");
}

TEST(UpstreamUrl, Ipv6Literal) {
  auto url = UpstreamUrl::parse("http://[::1]:8080");
  ASSERT_TRUE(url.ok()) << url.error();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->hostHeader(), "[::1]:8080");
}

TEST(UpstreamUrl, RejectsWhatItCannotUse) {
  EXPECT_NE(UpstreamUrl::parse("ftp://x").error().find("http:// or https://"), std::string::npos);
  EXPECT_NE(UpstreamUrl::parse("api.nasa.gov").error().find("http:// or https://"), std::string::npos);
  EXPECT_NE(UpstreamUrl::parse("http://").error().find("no host"), std::string::npos);
  EXPECT_NE(UpstreamUrl::parse("http://h:0").error().find("port"), std::string::npos);
  EXPECT_NE(UpstreamUrl::parse("http://h:70000").error().find("port"), std::string::npos);
  EXPECT_NE(UpstreamUrl::parse("http://h:").error().find("empty port"), std::string::npos);
  EXPECT_NE(UpstreamUrl::parse("http://h/?api_key=x").error().find("query"), std::string::npos);
  EXPECT_NE(UpstreamUrl::parse("http://u:p@h").error().find("user info"), std::string::npos);
}

}  // namespace
}  // namespace ringlb::apod
