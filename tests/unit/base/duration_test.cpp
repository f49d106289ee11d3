#include "ringlb/base/duration.h"

#include <gtest/gtest.h>

#include <string>

namespace ringlb {
namespace {

using std::chrono::milliseconds;

milliseconds parsed(std::string_view text) {
  auto result = parseDuration(text);
  EXPECT_TRUE(result.ok()) << text << ": " << (result.ok() ? "" : result.error());
  return result.ok() ? result.value() : milliseconds{-1};
}

std::string rejection(std::string_view text) {
  auto result = parseDuration(text);
  EXPECT_FALSE(result.ok()) << text << " was accepted";
  if (result.ok()) return {};
  EXPECT_EQ(result.errorKind(), ErrorKind::Invalid);
  return result.error();
}

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parsed("250ms"), milliseconds{250});
  EXPECT_EQ(parsed("15s"), milliseconds{15'000});
  EXPECT_EQ(parsed("2m"), milliseconds{120'000});
  EXPECT_EQ(parsed("1h"), milliseconds{3'600'000});
}

// Both old parsers read a number without a unit as seconds (proxy config.cpp, operator main.cpp).
TEST(ParseDuration, BareNumberIsSeconds) {
  EXPECT_EQ(parsed("10"), milliseconds{10'000});
  EXPECT_EQ(parsed("1.5"), milliseconds{1'500});
}

TEST(ParseDuration, AcceptsFractionsAndRoundsDownToMilliseconds) {
  EXPECT_EQ(parsed("1.5s"), milliseconds{1'500});
  EXPECT_EQ(parsed(".5s"), milliseconds{500});
  EXPECT_EQ(parsed("5.s"), milliseconds{5'000});
  EXPECT_EQ(parsed("0.25m"), milliseconds{15'000});
  EXPECT_EQ(parsed("1.5ms"), milliseconds{1});
  EXPECT_EQ(parsed("1.0009s"), milliseconds{1'000});
  EXPECT_EQ(parsed("0.001s"), milliseconds{1});
  EXPECT_EQ(parsed("007s"), milliseconds{7'000});
}

// The operator's old parser (std::stod) read exponents, and Helm renders large numbers that way.
TEST(ParseDuration, AcceptsDecimalExponents) {
  EXPECT_EQ(parsed("1e+06s"), milliseconds{1'000'000'000});
  EXPECT_EQ(parsed("1E3ms"), milliseconds{1'000});
  EXPECT_EQ(parsed("2.5e-1s"), milliseconds{250});
}

TEST(ParseDuration, ZeroIsADuration) {
  EXPECT_EQ(parsed("0"), milliseconds{0});
  EXPECT_EQ(parsed("0ms"), milliseconds{0});
  EXPECT_EQ(parsed("0.000s"), milliseconds{0});
}

TEST(ParseDuration, AcceptsUpToTheLimit) {
  EXPECT_EQ(parsed("1000000000s"), kMaxDuration);
  EXPECT_EQ(parsed("1000000000000ms"), kMaxDuration);
  EXPECT_EQ(parsed("0.000000000000000000000000000001000000000000000000000000000000e30ms"), milliseconds{1});
}

TEST(ParseDuration, RejectsEmptyAndMalformedNamingTheText) {
  EXPECT_EQ(rejection(""), "must be a duration like 500ms, 1.5s, 2m or 1h (got '')");
  EXPECT_EQ(rejection("soon"), "must be a duration like 500ms, 1.5s, 2m or 1h (got 'soon')");
  for (const char* text : {"s", "ms", ".", ".s", "5 s", " 5s", "5s ", "+5s", "1.2.3s", "1e", "1e+s", "0x10s", "inf",
                           "nan", "5s5", "5_000ms", "1,5s", "1m30s"}) {
    EXPECT_EQ(rejection(text), "must be a duration like 500ms, 1.5s, 2m or 1h (got '" + std::string(text) + "')");
  }
}

TEST(ParseDuration, RejectsUnknownUnitsNamingTheUnit) {
  EXPECT_EQ(rejection("3d"), "has an unknown unit 'd'; use ms, s, m or h (got '3d')");
  EXPECT_EQ(rejection("10sec"), "has an unknown unit 'sec'; use ms, s, m or h (got '10sec')");
  EXPECT_EQ(rejection("5S"), "has an unknown unit 'S'; use ms, s, m or h (got '5S')");
  EXPECT_EQ(rejection("100us"), "has an unknown unit 'us'; use ms, s, m or h (got '100us')");
}

TEST(ParseDuration, RejectsNegatives) {
  EXPECT_EQ(rejection("-1s"), "must not be negative (got '-1s')");
  EXPECT_EQ(rejection("-0"), "must not be negative (got '-0')");
}

TEST(ParseDuration, RejectsOverflowWithoutWrapping) {
  EXPECT_EQ(rejection("1000000000001ms"), "is too long; the longest is 1000000000s (got '1000000000001ms')");
  EXPECT_EQ(rejection("277778h"), "is too long; the longest is 1000000000s (got '277778h')");
  EXPECT_EQ(rejection("18446744073709551617s"), "is too long; the longest is 1000000000s (got '18446744073709551617s')");
  EXPECT_EQ(rejection("1e400s"), "is too long; the longest is 1000000000s (got '1e400s')");
  EXPECT_EQ(rejection("1e99999999999999999999s"),
            "is too long; the longest is 1000000000s (got '1e99999999999999999999s')");
  EXPECT_EQ(rejection("1234567890123456789012345678901s"), "has too many digits (got '1234567890123456789012345678901s')");
}

TEST(ParseDuration, RejectsNonZeroValuesBelowOneMillisecond) {
  EXPECT_EQ(rejection("0.5ms"), "is shorter than 1ms (got '0.5ms')");
  EXPECT_EQ(rejection("1e-9s"), "is shorter than 1ms (got '1e-9s')");
}

TEST(FormatDuration, UsesTheLargestUnitThatDividesIt) {
  EXPECT_EQ(formatDuration(milliseconds{0}), "0s");
  EXPECT_EQ(formatDuration(milliseconds{250}), "250ms");
  EXPECT_EQ(formatDuration(milliseconds{1'500}), "1500ms");
  EXPECT_EQ(formatDuration(milliseconds{15'000}), "15s");
  EXPECT_EQ(formatDuration(milliseconds{90'000}), "90s");
  EXPECT_EQ(formatDuration(milliseconds{120'000}), "2m");
  EXPECT_EQ(formatDuration(milliseconds{3'600'000}), "1h");
}

TEST(FormatDuration, ReadsBackExactly) {
  for (const auto millis : {1LL, 999LL, 1'001LL, 61'000LL, 5'400'000LL, 1'000'000'000'000LL}) {
    EXPECT_EQ(parsed(formatDuration(milliseconds{millis})), milliseconds{millis}) << millis;
  }
}

}  // namespace
}  // namespace ringlb
