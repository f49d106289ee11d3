#include "ringlb/apod/civil_date.h"

#include <gtest/gtest.h>

namespace ringlb::apod {
namespace {

TEST(CivilDate, ParsesIsoDates) {
  auto date = parseIsoDate("2020-02-29");
  ASSERT_TRUE(date.ok()) << date.error();
  EXPECT_EQ(date.value(), (CivilDate{2020, 2, 29}));
  EXPECT_EQ(date.value().iso(), "2020-02-29");
}

TEST(CivilDate, AcceptsSingleDigitMonthAndDayLikePythonStrptime) {
  auto date = parseIsoDate("2021-1-5");
  ASSERT_TRUE(date.ok()) << date.error();
  EXPECT_EQ(date.value().iso(), "2021-01-05");
}

TEST(CivilDate, MalformedTextGetsPythonsMessage) {
  EXPECT_EQ(parseIsoDate("x").error(), "time data 'x' does not match format '%Y-%m-%d'");
  EXPECT_EQ(parseIsoDate("").error(), "time data '' does not match format '%Y-%m-%d'");
  EXPECT_EQ(parseIsoDate("2020/01/01").error(), "time data '2020/01/01' does not match format '%Y-%m-%d'");
  EXPECT_EQ(parseIsoDate("2020-13-01").error(), "time data '2020-13-01' does not match format '%Y-%m-%d'");
  EXPECT_EQ(parseIsoDate("it's").error(), "time data \"it's\" does not match format '%Y-%m-%d'");
}

TEST(CivilDate, TrailingTextIsUnconvertedData) {
  EXPECT_EQ(parseIsoDate("2020-01-32").error(), "unconverted data remains: 2");
  EXPECT_EQ(parseIsoDate("2020-01-01T00:00").error(), "unconverted data remains: T00:00");
}

TEST(CivilDate, ImpossibleDayIsOutOfRange) {
  EXPECT_EQ(parseIsoDate("2021-02-29").error(), "day is out of range for month");
  EXPECT_EQ(parseIsoDate("2021-04-31").error(), "day is out of range for month");
  EXPECT_EQ(parseIsoDate("0000-01-01").error(), "year 0 is out of range");
}

TEST(CivilDate, DayNumbersRoundTrip) {
  EXPECT_EQ((CivilDate{1970, 1, 1}).dayNumber(), 0);
  EXPECT_EQ((CivilDate{1995, 6, 16}).dayNumber(), 9297);
  for (std::int64_t day = 9000; day < 21000; day += 37) {
    EXPECT_EQ(CivilDate::fromDayNumber(day).dayNumber(), day);
  }
  EXPECT_EQ(CivilDate::fromDayNumber((CivilDate{2024, 2, 28}).dayNumber() + 1).iso(), "2024-02-29");
}

TEST(CivilDate, DisplaysLikeTheRealApiErrorMessage) {
  EXPECT_EQ((CivilDate{1995, 6, 16}).display(), "Jun 16, 1995");
  EXPECT_EQ((CivilDate{2026, 11, 3}).display(), "Nov 03, 2026");
}

TEST(CivilDate, PythonReprEscapes) {
  EXPECT_EQ(pythonRepr("a\\b"), "'a\\\\b'");
  EXPECT_EQ(pythonRepr("a\nb"), "'a\\nb'");
  EXPECT_EQ(pythonRepr("both'\""), "'both\\'\"'");
  EXPECT_EQ(pythonRepr(std::string_view{"\x01", 1}), "'\\x01'");
}

}  // namespace
}  // namespace ringlb::apod
