#include "ringlb/apod/query_params.h"

#include <gtest/gtest.h>

namespace ringlb::apod {
namespace {

TEST(QueryParams, SplitsTargetAndDecodes) {
  const auto [path, params] = QueryParams::splitTarget("/planetary/apod?date=2020-01-01&api_key=a%20b+c");
  EXPECT_EQ(path, "/planetary/apod");
  EXPECT_EQ(params.first("date"), "2020-01-01");
  EXPECT_EQ(params.first("api_key"), "a b c");
  EXPECT_FALSE(params.first("count").has_value());
}

TEST(QueryParams, FirstValueWinsAndEmptyIsNotGiven) {
  const auto params = QueryParams::parse("date=&count=3&count=5&flag");
  EXPECT_EQ(params.first("date"), "");
  EXPECT_FALSE(params.nonEmpty("date").has_value());
  EXPECT_EQ(params.nonEmpty("count"), "3");
  EXPECT_EQ(params.first("flag"), "");
  EXPECT_EQ(params.items().size(), 4U);
}

TEST(QueryParams, MalformedEscapesStayLiteral) {
  const auto params = QueryParams::parse("date=%zz%4&x=%41");
  EXPECT_EQ(params.first("date"), "%zz%4");
  EXPECT_EQ(params.first("x"), "A");
}

TEST(QueryParams, NoQueryGivesNoParameters) {
  const auto [path, params] = QueryParams::splitTarget("/healthz");
  EXPECT_EQ(path, "/healthz");
  EXPECT_TRUE(params.items().empty());
}

}  // namespace
}  // namespace ringlb::apod
