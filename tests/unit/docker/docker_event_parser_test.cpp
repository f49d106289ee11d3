#include "ringlb/operator/docker_event_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringlb::op {
namespace {

// Three events as dockerd 20.10 writes them (one per line), with strings that
// hold braces, brackets, escaped quotes and backslashes to trip a naive splitter.
const std::string kStream =
    R"({"status":"die","id":"aaa111","from":"ringlb/apod:0.1.0","Type":"container","Action":"die",)"
    R"("Actor":{"ID":"aaa111","Attributes":{"exitCode":"137","image":"ringlb/apod:0.1.0","name":"ringlb-apod-0",)"
    R"("ringlb.dev/ring":"apod","ringlb.dev/slot":"apod-0"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789})"
    "\n"
    R"({"Type":"container","Action":"oom","Actor":{"ID":"bbb222","Attributes":{"name":"odd \"}{][ name\\","ringlb.dev/slot":"apod-1"}},"timeNano":1700000001000000000})"
    "\r\n"
    R"({"Type":"container","Action":"destroy","Actor":{"ID":"ccc333","Attributes":{"list":"[1,{2}]"}},"time":1700000002})"
    "\n";

struct Flat {
  std::string action;
  std::string id;
  std::string slot;
  std::int64_t timeNano = 0;
  bool ok = false;
  friend bool operator==(const Flat&, const Flat&) = default;
};

std::vector<Flat> flatten(const std::vector<Result<DockerEvent>>& events) {
  std::vector<Flat> out;
  for (const auto& e : events) {
    if (!e.ok()) {
      out.push_back(Flat{"<error>", e.error(), {}, 0, false});
      continue;
    }
    const auto slot = e->attributes.find("ringlb.dev/slot");
    out.push_back(Flat{e->action, e->id, slot == e->attributes.end() ? "" : slot->second, e->timeNano, true});
  }
  return out;
}

std::vector<Flat> feedInPieces(const std::string& stream, const std::vector<std::size_t>& cuts) {
  DockerEventParser parser;
  std::vector<Result<DockerEvent>> all;
  std::size_t from = 0;
  for (const std::size_t cut : cuts) {
    for (auto& e : parser.feed(std::string_view(stream).substr(from, cut - from))) all.push_back(std::move(e));
    from = cut;
  }
  for (auto& e : parser.feed(std::string_view(stream).substr(from))) all.push_back(std::move(e));
  EXPECT_EQ(parser.pending(), 0U);
  return flatten(all);
}

TEST(DockerEventParser, DecodesWholeStream) {
  const auto events = feedInPieces(kStream, {});
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events[0], (Flat{"die", "aaa111", "apod-0", 1700000000123456789, true}));
  EXPECT_EQ(events[1], (Flat{"oom", "bbb222", "apod-1", 1700000001000000000, true}));
  // No timeNano: whole seconds are scaled.
  EXPECT_EQ(events[2], (Flat{"destroy", "ccc333", "", 1700000002000000000, true}));
}

TEST(DockerEventParser, KeepsAttributes) {
  DockerEventParser parser;
  const auto events = parser.feed(kStream);
  ASSERT_EQ(events.size(), 3U);
  ASSERT_TRUE(events[0].ok());
  EXPECT_EQ(events[0]->type, "container");
  EXPECT_EQ(events[0]->attributes.at("exitCode"), "137");
  EXPECT_EQ(events[0]->attributes.at("ringlb.dev/ring"), "apod");
  ASSERT_TRUE(events[1].ok());
  EXPECT_EQ(events[1]->attributes.at("name"), "odd \"}{][ name\\");
}

TEST(DockerEventParser, SameEventsWhenSplitAtEveryByte) {
  const auto whole = feedInPieces(kStream, {});
  for (std::size_t cut = 0; cut <= kStream.size(); ++cut) {
    EXPECT_EQ(feedInPieces(kStream, {cut}), whole) << "split at byte " << cut;
  }
}

TEST(DockerEventParser, SameEventsWhenSplitAtEveryPairOfBytes) {
  const auto whole = feedInPieces(kStream, {});
  for (std::size_t a = 0; a <= kStream.size(); a += 41) {
    for (std::size_t b = a; b <= kStream.size(); ++b) {
      ASSERT_EQ(feedInPieces(kStream, {a, b}), whole) << "split at bytes " << a << " and " << b;
    }
  }
}

TEST(DockerEventParser, OneByteAtATimeDeliversEachEventWithItsLastByte) {
  DockerEventParser parser;
  std::vector<std::size_t> deliveredAt;
  for (std::size_t i = 0; i < kStream.size(); ++i) {
    const auto events = parser.feed(std::string_view(&kStream[i], 1));
    for (std::size_t k = 0; k < events.size(); ++k) deliveredAt.push_back(i);
  }
  ASSERT_EQ(deliveredAt.size(), 3U);
  // Each event is complete at its closing brace, not at the newline after it.
  EXPECT_EQ(kStream[deliveredAt[0]], '}');
  EXPECT_EQ(kStream[deliveredAt[0] + 1], '\n');
  EXPECT_EQ(kStream[deliveredAt[2]], '}');
}

TEST(DockerEventParser, MalformedObjectIsReportedAndStreamRecovers) {
  const std::string stream = R"({"Type":"container"})" "\n" R"({"Type":"container","Action":"die","Actor":{"ID":"x"}})" "\n";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto events = feedInPieces(stream, {cut});
    ASSERT_EQ(events.size(), 2U) << cut;
    EXPECT_FALSE(events[0].ok);
    EXPECT_NE(events[0].id.find("lacks Type or Action"), std::string::npos) << events[0].id;
    EXPECT_EQ(events[1], (Flat{"die", "x", "", 0, true}));
  }
}

TEST(DockerEventParser, GarbageBetweenObjectsIsOneErrorPerRun) {
  const std::string stream = "garbage here\n" R"({"Type":"container","Action":"start","Actor":{"ID":"y"}})";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto events = feedInPieces(stream, {cut});
    ASSERT_EQ(events.size(), 2U) << cut;
    EXPECT_FALSE(events[0].ok);
    EXPECT_EQ(events[1].action, "start");
  }
}

TEST(DockerEventParser, OversizedObjectIsDroppedAndNextIsKept) {
  std::string stream = R"({"Type":"container","Action":"die","pad":")" + std::string(2U << 20U, 'x') + "\"}\n";
  stream += R"({"Type":"container","Action":"die","Actor":{"ID":"z"}})";
  DockerEventParser parser;
  const auto events = flatten(parser.feed(stream));
  ASSERT_EQ(events.size(), 2U);
  EXPECT_FALSE(events[0].ok);
  EXPECT_NE(events[0].id.find("larger than 1 MiB"), std::string::npos);
  EXPECT_EQ(events[1].id, "z");
}

TEST(DockerEventParser, ResetDropsPartialObject) {
  DockerEventParser parser;
  EXPECT_TRUE(parser.feed(R"({"Type":"container","Act)").empty());
  EXPECT_GT(parser.pending(), 0U);
  parser.reset();
  EXPECT_EQ(parser.pending(), 0U);
  const auto events = parser.feed(R"({"Type":"container","Action":"die","Actor":{"ID":"w"}})");
  ASSERT_EQ(events.size(), 1U);
  ASSERT_TRUE(events[0].ok());
  EXPECT_EQ(events[0]->id, "w");
}

// Found by tests/fuzz (docker_events): scaling such seconds overflowed int64 (undefined behaviour).
TEST(DockerEventParser, TimeTooLargeForNanosecondsIsLeftUnknown) {
  const auto event = parseDockerEvent(R"({"Type":"container","Action":"die","time":11700000001})");
  ASSERT_TRUE(event.ok()) << event.error();
  EXPECT_EQ(event->timeNano, 0);
  const auto negative = parseDockerEvent(R"({"Type":"container","Action":"die","time":-9223372036854775807})");
  ASSERT_TRUE(negative.ok());
  EXPECT_EQ(negative->timeNano, 0);
  const auto latest = parseDockerEvent(R"({"Type":"container","Action":"die","time":9223372036})");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->timeNano, 9223372036000000000);
}

}  // namespace
}  // namespace ringlb::op
