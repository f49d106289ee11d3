#include "ringlb/apod/civil_date.h"

#include <array>
#include <cstdio>
#include <optional>

namespace ringlb::apod {
namespace {

constexpr std::array<const char*, 12> kMonthAbbrev = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool isDigit(char c) noexcept { return c >= '0' && c <= '9'; }
unsigned digit(char c) noexcept { return static_cast<unsigned>(c - '0'); }

// One field of Python's strptime regex: the alternatives are tried in order and the first that
// matches wins, which is what makes "2020-01-32" report "unconverted data remains: 2".
struct FieldMatch {
  unsigned value;
  std::size_t length;
};

// %m: 1[0-2] | 0[1-9] | [1-9]
std::optional<FieldMatch> matchMonth(std::string_view s) {
  if (s.size() >= 2 && s[0] == '1' && s[1] >= '0' && s[1] <= '2') return FieldMatch{10 + digit(s[1]), 2};
  if (s.size() >= 2 && s[0] == '0' && s[1] >= '1' && s[1] <= '9') return FieldMatch{digit(s[1]), 2};
  if (!s.empty() && s[0] >= '1' && s[0] <= '9') return FieldMatch{digit(s[0]), 1};
  return std::nullopt;
}

// %d: 3[01] | [12]\d | 0[1-9] | [1-9] | " "[1-9]
std::optional<FieldMatch> matchDay(std::string_view s) {
  if (s.size() >= 2 && s[0] == '3' && (s[1] == '0' || s[1] == '1')) return FieldMatch{30 + digit(s[1]), 2};
  if (s.size() >= 2 && (s[0] == '1' || s[0] == '2') && isDigit(s[1])) {
    return FieldMatch{10 * digit(s[0]) + digit(s[1]), 2};
  }
  if (s.size() >= 2 && s[0] == '0' && s[1] >= '1' && s[1] <= '9') return FieldMatch{digit(s[1]), 2};
  if (!s.empty() && s[0] >= '1' && s[0] <= '9') return FieldMatch{digit(s[0]), 1};
  if (s.size() >= 2 && s[0] == ' ' && s[1] >= '1' && s[1] <= '9') return FieldMatch{digit(s[1]), 2};
  return std::nullopt;
}

Error noMatch(std::string_view text) {
  return Error{"time data " + pythonRepr(text) + " does not match format '%Y-%m-%d'"};
}

}  // namespace

CivilDate CivilDate::fromDayNumber(std::int64_t days) noexcept {
  return CivilDate{std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{days}}}};
}

std::int64_t CivilDate::dayNumber() const noexcept {
  return std::chrono::sys_days{ymd_}.time_since_epoch().count();
}

std::string CivilDate::iso() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", year(), month(), day());
  return buf;
}

std::string CivilDate::display() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s %02u, %04d", kMonthAbbrev[month() - 1], day(), year());
  return buf;
}

Result<CivilDate> parseIsoDate(std::string_view text) {
  if (text.size() < 4 || !isDigit(text[0]) || !isDigit(text[1]) || !isDigit(text[2]) || !isDigit(text[3])) {
    return noMatch(text);
  }
  const int year = static_cast<int>(digit(text[0]) * 1000 + digit(text[1]) * 100 + digit(text[2]) * 10 + digit(text[3]));
  std::string_view rest = text.substr(4);
  if (rest.empty() || rest[0] != '-') return noMatch(text);
  rest.remove_prefix(1);
  const auto month = matchMonth(rest);
  if (!month) return noMatch(text);
  rest.remove_prefix(month->length);
  if (rest.empty() || rest[0] != '-') return noMatch(text);
  rest.remove_prefix(1);
  const auto day = matchDay(rest);
  if (!day) return noMatch(text);
  rest.remove_prefix(day->length);
  if (!rest.empty()) return Error{"unconverted data remains: " + std::string(rest)};
  if (year == 0) return Error{"year 0 is out of range"};
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month->value},
                                        std::chrono::day{day->value}};
  if (!ymd.ok()) return Error{"day is out of range for month"};
  return CivilDate{year, month->value, day->value};
}

std::string pythonRepr(std::string_view text) {
  // Python prefers single quotes and switches to double quotes only when that avoids escaping.
  const bool hasSingle = text.find('\'') != std::string_view::npos;
  const bool hasDouble = text.find('"') != std::string_view::npos;
  const char quote = (hasSingle && !hasDouble) ? '"' : '\'';
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back(quote);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  out.push_back(quote);
  return out;
}

}  // namespace ringlb::apod
