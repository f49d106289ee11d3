#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb::apod {

/// A proleptic Gregorian calendar date (no time, no zone), as APOD dates are.
class CivilDate {
 public:
  /// Builds a date; the caller guarantees it is valid (see parseIsoDate for untrusted text).
  constexpr CivilDate(int year, unsigned month, unsigned day) noexcept
      : ymd_{std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{day}} {}

  /// The date `days` days after 1970-01-01 (negative: before).
  static CivilDate fromDayNumber(std::int64_t days) noexcept;

  /// Days since 1970-01-01.
  [[nodiscard]] std::int64_t dayNumber() const noexcept;

  [[nodiscard]] int year() const noexcept { return static_cast<int>(ymd_.year()); }
  [[nodiscard]] unsigned month() const noexcept { return static_cast<unsigned>(ymd_.month()); }
  [[nodiscard]] unsigned day() const noexcept { return static_cast<unsigned>(ymd_.day()); }

  /// "YYYY-MM-DD", the API's wire form.
  [[nodiscard]] std::string iso() const;

  /// "Jun 16, 1995", the form the real API uses in its range error message.
  [[nodiscard]] std::string display() const;

  friend constexpr auto operator<=>(const CivilDate& a, const CivilDate& b) noexcept {
    return a.ymd_ <=> b.ymd_;
  }
  friend constexpr bool operator==(const CivilDate& a, const CivilDate& b) noexcept = default;

 private:
  explicit constexpr CivilDate(std::chrono::year_month_day ymd) noexcept : ymd_{ymd} {}

  std::chrono::year_month_day ymd_;
};

/// Parses an API date the way the real service does (Python `strptime(text, "%Y-%m-%d")`):
/// a 4-digit year, a 1-2 digit month and day. Errors reproduce Python's messages, e.g.
/// "time data 'x' does not match format '%Y-%m-%d'", "unconverted data remains: 9",
/// "day is out of range for month". Never throws; thread-safe.
Result<CivilDate> parseIsoDate(std::string_view text);

/// Python's repr() of a str, used to quote user input in error messages exactly as the real
/// API does ('abc', "it's").
std::string pythonRepr(std::string_view text);

}  // namespace ringlb::apod
