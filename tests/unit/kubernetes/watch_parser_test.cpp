#include "ringlb/operator/kubernetes_watch_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringlb::op {
namespace {

// Three events as an API server sends them; the second has a multi-byte UTF-8
// annotation so splits land inside a code point too.
const std::string kStream =
    R"({"type":"ADDED","object":{"kind":"HashRing","metadata":{"name":"a","resourceVersion":"10"}}})"
    "\n"
    R"({"type":"MODIFIED","object":{"kind":"HashRing","metadata":{"name":"a","resourceVersion":"11","annotations":{"note":"caf\u00e9 ☕"}}}})"
    "\r\n"
    "\n"
    R"({"type":"BOOKMARK","object":{"kind":"HashRing","metadata":{"resourceVersion":"12"}}})"
    "\n"
    R"({"type":"DELETED","object":{"kind":"HashRing","metadata":{"name":"a","resourceVersion":"13"}}})"
    "\n"
    R"({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}})"
    "\n";

void expectCanonical(const std::vector<WatchEvent>& events) {
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::Added);
  EXPECT_EQ(events[0].object["metadata"]["resourceVersion"], "10");
  EXPECT_EQ(events[1].type, WatchEvent::Type::Modified);
  EXPECT_EQ(events[1].object["metadata"]["annotations"]["note"], "caf\u00e9 \u2615");
  EXPECT_EQ(events[2].type, WatchEvent::Type::Bookmark);
  EXPECT_EQ(events[2].object["metadata"]["resourceVersion"], "12");
  EXPECT_EQ(events[3].type, WatchEvent::Type::Deleted);
  EXPECT_EQ(events[4].type, WatchEvent::Type::Error);
  EXPECT_EQ(events[4].object["code"], 410);
}

TEST(WatchStreamParser, WholeStreamInOnePiece) {
  WatchStreamParser parser;
  std::vector<WatchEvent> events;
  ASSERT_TRUE(parser.feed(kStream, events).ok());
  expectCanonical(events);
  EXPECT_FALSE(parser.hasPartialLine());
}

TEST(WatchStreamParser, SplitAtEveryByteBoundary) {
  for (std::size_t split = 0; split <= kStream.size(); ++split) {
    WatchStreamParser parser;
    std::vector<WatchEvent> events;
    ASSERT_TRUE(parser.feed(std::string_view(kStream).substr(0, split), events).ok()) << "split " << split;
    ASSERT_TRUE(parser.feed(std::string_view(kStream).substr(split), events).ok()) << "split " << split;
    expectCanonical(events);
    EXPECT_FALSE(parser.hasPartialLine()) << "split " << split;
  }
}

TEST(WatchStreamParser, SplitAtEveryPairOfBoundaries) {
  // Three pieces: an object can also span more than two chunks.
  const std::string_view all(kStream);
  for (std::size_t first = 0; first <= all.size(); first += 13) {
    for (std::size_t second = first; second <= all.size(); ++second) {
      WatchStreamParser parser;
      std::vector<WatchEvent> events;
      ASSERT_TRUE(parser.feed(all.substr(0, first), events).ok());
      ASSERT_TRUE(parser.feed(all.substr(first, second - first), events).ok());
      ASSERT_TRUE(parser.feed(all.substr(second), events).ok());
      expectCanonical(events);
    }
  }
}

TEST(WatchStreamParser, OneByteAtATime) {
  WatchStreamParser parser;
  std::vector<WatchEvent> events;
  for (const char c : kStream) ASSERT_TRUE(parser.feed(std::string_view(&c, 1), events).ok());
  expectCanonical(events);
}

TEST(WatchStreamParser, PartialLineIsHeldUntilNewline) {
  WatchStreamParser parser;
  std::vector<WatchEvent> events;
  ASSERT_TRUE(parser.feed(R"({"type":"ADDED","object":{"a":1}})", events).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(parser.hasPartialLine());
  ASSERT_TRUE(parser.feed("\n", events).ok());
  ASSERT_EQ(events.size(), 1u);
  parser.feed(R"({"type":"ADD)", events);
  parser.reset();
  EXPECT_FALSE(parser.hasPartialLine());
}

TEST(WatchStreamParser, MalformedLineIsReportedAndNextLineStillParses) {
  WatchStreamParser parser;
  std::vector<WatchEvent> events;
  auto status = parser.feed("{not json}\n" R"({"type":"ADDED","object":{"a":1}})" "\n", events);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("not a JSON object"), std::string::npos);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::Added);
}

TEST(WatchStreamParser, RejectsUnknownTypeAndMissingObject) {
  WatchStreamParser parser;
  std::vector<WatchEvent> events;
  auto unknown = parser.feed(R"({"type":"RENAMED","object":{}})" "\n", events);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("RENAMED"), std::string::npos);
  auto missing = parser.feed(R"({"type":"ADDED"})" "\n", events);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("object"), std::string::npos);
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace ringlb::op
