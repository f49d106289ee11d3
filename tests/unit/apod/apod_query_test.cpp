#include "ringlb/apod/apod_query.h"

#include <gtest/gtest.h>

#include "ringlb/apod/dataset.h"

namespace ringlb::apod {
namespace {

const DateBounds kBounds{kFirstApodDate, kLastDatasetDate};
constexpr const char* kRangeError = "Date must be between Jun 16, 1995 and Nov 23, 2026.";
constexpr const char* kCombinationError =
    "Bad Request: invalid field combination passed. Allowed request fields for apod method are "
    "'concept_tags', 'date', 'hd', 'count', 'start_date', 'end_date', 'thumbs'";

Result<ApodQuery> parse(std::string_view query) { return parseApodQuery(QueryParams::parse(query), kBounds); }

TEST(ApodQuery, NoParametersMeansLatest) {
  auto query = parse("");
  ASSERT_TRUE(query.ok()) << query.error();
  EXPECT_EQ(query->kind, ApodQuery::Kind::kLatest);
}

TEST(ApodQuery, UnknownAndEmptyParametersAreIgnored) {
  auto query = parse("api_key=DEMO_KEY&hd=true&concept_tags=1&whatever=x&date=");
  ASSERT_TRUE(query.ok()) << query.error();
  EXPECT_EQ(query->kind, ApodQuery::Kind::kLatest);
}

TEST(ApodQuery, SingleDate) {
  auto query = parse("date=1995-06-16&thumbs=true");
  ASSERT_TRUE(query.ok()) << query.error();
  EXPECT_EQ(query->kind, ApodQuery::Kind::kDate);
  EXPECT_EQ(query->date, kFirstApodDate);
  EXPECT_TRUE(query->thumbs);
}

TEST(ApodQuery, RangeEndDefaultsToTheLastDate) {
  auto query = parse("start_date=2026-11-20");
  ASSERT_TRUE(query.ok()) << query.error();
  EXPECT_EQ(query->kind, ApodQuery::Kind::kRange);
  EXPECT_EQ(query->start, (CivilDate{2026, 11, 20}));
  EXPECT_EQ(query->end, kLastDatasetDate);
}

TEST(ApodQuery, RangeWithSameStartAndEnd) {
  auto query = parse("start_date=2001-01-01&end_date=2001-01-01");
  ASSERT_TRUE(query.ok()) << query.error();
  EXPECT_EQ(query->start, query->end);
}

TEST(ApodQuery, CountAcceptsPythonIntSyntax) {
  for (const auto* text : {"count=1", "count=100", "count=+7", "count=%207%20", "count=0_5"}) {
    auto query = parse(text);
    ASSERT_TRUE(query.ok()) << text << ": " << query.error();
    EXPECT_EQ(query->kind, ApodQuery::Kind::kRandom);
  }
  EXPECT_EQ(parse("count=0_5")->count, 5);
}

TEST(ApodQuery, WithoutBoundsOnlySyntaxIsChecked) {
  auto query = parseApodQuery(QueryParams::parse("date=1990-01-01"), std::nullopt);
  ASSERT_TRUE(query.ok()) << query.error();
  auto range = parseApodQuery(QueryParams::parse("start_date=2030-01-01"), std::nullopt);
  ASSERT_TRUE(range.ok()) << range.error();
  EXPECT_FALSE(range->end.has_value());
  EXPECT_FALSE(parseApodQuery(QueryParams::parse("date=nope"), std::nullopt).ok());
}

struct BadInput {
  const char* query;
  const char* message;
};

class ApodQueryRejects : public ::testing::TestWithParam<BadInput> {};

TEST_P(ApodQueryRejects, WithTheRealApisMessage) {
  auto query = parse(GetParam().query);
  ASSERT_FALSE(query.ok()) << GetParam().query << " was accepted";
  EXPECT_EQ(query.error(), GetParam().message) << GetParam().query;
}

INSTANTIATE_TEST_SUITE_P(
    BadInputs, ApodQueryRejects,
    ::testing::Values(
        BadInput{"date=1995-06-15", kRangeError},
        BadInput{"date=2026-11-24", kRangeError},
        BadInput{"date=x", "time data 'x' does not match format '%Y-%m-%d'"},
        BadInput{"date=2020-02-30", "day is out of range for month"},
        BadInput{"date=20200101", "time data '20200101' does not match format '%Y-%m-%d'"},
        BadInput{"date=2020-01-01x", "unconverted data remains: x"},
        BadInput{"start_date=2020-01-02&end_date=2020-01-01", "start_date cannot be after end_date"},
        BadInput{"start_date=1990-01-01", kRangeError},
        BadInput{"start_date=2020-01-01&end_date=2099-01-01", kRangeError},
        BadInput{"start_date=2020-01-01&end_date=soon", "time data 'soon' does not match format '%Y-%m-%d'"},
        BadInput{"end_date=2020-01-01", kCombinationError},
        BadInput{"count=5&date=2020-01-01", kCombinationError},
        BadInput{"count=5&start_date=2020-01-01", kCombinationError},
        BadInput{"date=2020-01-01&start_date=2020-01-01", kCombinationError},
        BadInput{"count=0", "Count must be positive and cannot exceed 100"},
        BadInput{"count=101", "Count must be positive and cannot exceed 100"},
        BadInput{"count=-3", "Count must be positive and cannot exceed 100"},
        BadInput{"count=99999999999999999999999", "Count must be positive and cannot exceed 100"},
        BadInput{"count=abc", "invalid literal for int() with base 10: 'abc'"},
        BadInput{"count=1.5", "invalid literal for int() with base 10: '1.5'"},
        BadInput{"count=_1", "invalid literal for int() with base 10: '_1'"}));

}  // namespace
}  // namespace ringlb::apod
