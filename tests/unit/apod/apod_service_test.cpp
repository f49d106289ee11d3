#include "ringlb/apod/apod_service.h"

#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ringlb::apod {
namespace {

// A fixed, counting random source: the chosen dates are then known in advance.
ApodService::RandomSource sequence() {
  return [n = std::uint64_t{0}]() mutable { return n++ * 7919; };
}

nlohmann::json body(const ApiReply& reply) { return nlohmann::json::parse(reply.body); }

TEST(ApodService, LatestIsTheLastDate) {
  const ApodService service{Dataset{}, sequence()};
  const auto reply = service.answer(QueryParams::parse(""));
  ASSERT_EQ(reply.status, 200U);
  EXPECT_EQ(body(reply).at("date"), "2026-11-23");
}

TEST(ApodService, DateGivesOneObjectEqualToTheDatasetEntry) {
  const ApodService service{Dataset{}, sequence()};
  const auto reply = service.answer(QueryParams::parse("date=2004-07-04&api_key=x"));
  ASSERT_EQ(reply.status, 200U);
  EXPECT_EQ(body(reply), Dataset{}.entryFor(CivilDate{2004, 7, 4}).toJson());
}

TEST(ApodService, RangeGivesAnArrayInDateOrder) {
  const ApodService service{Dataset{}, sequence()};
  const auto reply = service.answer(QueryParams::parse("start_date=2024-02-27&end_date=2024-03-01"));
  ASSERT_EQ(reply.status, 200U);
  const auto list = body(reply);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 4U);
  EXPECT_EQ(list[0].at("date"), "2024-02-27");
  EXPECT_EQ(list[2].at("date"), "2024-02-29");
  EXPECT_EQ(list[3].at("date"), "2024-03-01");
}

TEST(ApodService, OpenRangeEndsAtTheLastDate) {
  const ApodService service{Dataset{}, sequence()};
  const auto list = body(service.answer(QueryParams::parse("start_date=2026-11-21")));
  ASSERT_EQ(list.size(), 3U);
  EXPECT_EQ(list.back().at("date"), "2026-11-23");
}

TEST(ApodService, CountGivesDistinctDatesWithDeterministicEntries) {
  const Dataset dataset;
  const ApodService service{dataset, sequence()};
  const auto list = body(service.answer(QueryParams::parse("count=100")));
  ASSERT_EQ(list.size(), 100U);
  std::set<std::string> dates;
  for (const auto& entry : list) {
    const std::string date = entry.at("date");
    dates.insert(date);
    EXPECT_EQ(entry, dataset.entryFor(parseIsoDate(date).value()).toJson());
  }
  EXPECT_EQ(dates.size(), 100U);
}

TEST(ApodService, CountDrawsFromTheRandomSource) {
  const ApodService a{Dataset{}, [] { return std::uint64_t{5}; }};
  // A constant source can only ever yield one date: count=1 must be exactly that date.
  const auto list = body(a.answer(QueryParams::parse("count=1")));
  ASSERT_EQ(list.size(), 1U);
  EXPECT_EQ(list[0].at("date"), "1995-06-21");
}

TEST(ApodService, CountLargerThanASmallDatasetGivesEveryDate) {
  const ApodService service{Dataset{CivilDate{2000, 1, 1}, CivilDate{2000, 1, 3}}, sequence()};
  EXPECT_EQ(body(service.answer(QueryParams::parse("count=10"))).size(), 3U);
}

TEST(ApodService, ErrorsHaveTheRealApisShape) {
  const ApodService service{Dataset{}, sequence()};
  const auto reply = service.answer(QueryParams::parse("date=1995-06-15"));
  EXPECT_EQ(reply.status, 400U);
  EXPECT_EQ(body(reply), (nlohmann::json{{"code", 400},
                                          {"msg", "Date must be between Jun 16, 1995 and Nov 23, 2026."},
                                          {"service_version", "v1"}}));
}

TEST(ApodService, ParsedQueryOutsideTheDatasetIsRejected) {
  const ApodService service{Dataset{CivilDate{2000, 1, 1}, CivilDate{2000, 12, 31}}, sequence()};
  ApodQuery query;
  query.kind = ApodQuery::Kind::kDate;
  query.date = CivilDate{2001, 1, 1};
  const auto reply = service.answer(query);
  EXPECT_EQ(reply.status, 400U);
  EXPECT_EQ(body(reply).at("msg"), "Date must be between Jan 01, 2000 and Dec 31, 2000.");
}

TEST(ApodService, NonUtf8InputInMessagesDoesNotThrow) {
  const ApodService service{Dataset{}, sequence()};
  const auto reply = service.answer(QueryParams::parse("date=%FF%FE"));
  EXPECT_EQ(reply.status, 400U);
  EXPECT_NO_THROW((void)body(reply));
}

}  // namespace
}  // namespace ringlb::apod
