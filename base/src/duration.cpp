#include "ringlb/base/duration.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace ringlb {

namespace {

// 30 significant digits times the largest unit (3.6e6 ms) stays below 2^128.
__extension__ using Wide = unsigned __int128;
constexpr std::size_t kMaxSignificantDigits = 30;
// An exponent past this makes any non-zero value too long or too short either way.
constexpr int kExponentClamp = 100'000;

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

Error malformed(std::string_view text) {
  return Error::invalid("must be a duration like 500ms, 1.5s, 2m or 1h (got " + quoted(text) + ")");
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::size_t skipDigits(std::string_view text, std::size_t at) {
  while (at < text.size() && isDigit(text[at])) ++at;
  return at;
}

// Milliseconds per unit; 0 for an unknown unit.
std::int64_t unitMillis(std::string_view unit) {
  if (unit.empty() || unit == "s") return 1'000;
  if (unit == "ms") return 1;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return 0;
}

// A decimal number as significant digits times a power of ten.
struct Decimal {
  std::string digits;  // no leading or trailing zeros; empty for zero
  int exponent = 0;
};

// Reads `[digits][.digits][(e|E)[+|-]digits]` from the front of `text`; returns where it
// stopped, or npos when there is no digit in the mantissa or the exponent is incomplete.
std::size_t readDecimal(std::string_view text, Decimal& out) {
  const std::size_t intEnd = skipDigits(text, 0);
  std::size_t end = intEnd;
  std::string_view fraction;
  if (end < text.size() && text[end] == '.') {
    const std::size_t fracEnd = skipDigits(text, end + 1);
    fraction = text.substr(end + 1, fracEnd - end - 1);
    end = fracEnd;
  }
  if (intEnd == 0 && fraction.empty()) return std::string_view::npos;
  long exponent = 0;
  if (end < text.size() && (text[end] == 'e' || text[end] == 'E')) {
    std::size_t at = end + 1;
    const bool negative = at < text.size() && text[at] == '-';
    if (at < text.size() && (text[at] == '-' || text[at] == '+')) ++at;
    const std::size_t expEnd = skipDigits(text, at);
    if (expEnd == at) return std::string_view::npos;
    for (std::size_t i = at; i < expEnd && exponent < kExponentClamp; ++i) exponent = exponent * 10 + (text[i] - '0');
    if (negative) exponent = -exponent;
    end = expEnd;
  }
  std::string digits = std::string(text.substr(0, intEnd)) + std::string(fraction);
  exponent -= static_cast<long>(fraction.size());
  const auto first = digits.find_first_not_of('0');
  if (first == std::string::npos) {
    out = {};
    return end;
  }
  const auto last = digits.find_last_not_of('0');
  exponent += static_cast<long>(digits.size() - 1 - last);
  out.digits = digits.substr(first, last - first + 1);
  out.exponent = static_cast<int>(exponent);
  return end;
}

}  // namespace

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
  if (!text.empty() && text[0] == '-') return Error::invalid("must not be negative (got " + quoted(text) + ")");
  Decimal number;
  const std::size_t end = readDecimal(text, number);
  if (end == std::string_view::npos) return malformed(text);
  const std::string_view unit = text.substr(end);
  if (!std::all_of(unit.begin(), unit.end(), isLetter)) return malformed(text);
  const std::int64_t scale = unitMillis(unit);
  if (scale == 0) {
    return Error::invalid("has an unknown unit " + quoted(unit) + "; use ms, s, m or h (got " + quoted(text) + ")");
  }
  if (number.digits.empty()) return std::chrono::milliseconds{0};
  if (number.digits.size() > kMaxSignificantDigits) {
    return Error::invalid("has too many digits (got " + quoted(text) + ")");
  }
  const auto max = static_cast<Wide>(kMaxDuration.count());
  Wide millis = 0;
  for (const char c : number.digits) millis = millis * 10 + static_cast<Wide>(c - '0');
  millis *= static_cast<Wide>(scale);
  for (int i = 0; i < number.exponent && millis <= max; ++i) millis *= 10;
  for (int i = 0; i > number.exponent && millis > 0; --i) millis /= 10;
  if (millis > max) {
    return Error::invalid("is too long; the longest is " + std::to_string(kMaxDuration.count() / 1000) + "s (got " +
                          quoted(text) + ")");
  }
  if (millis == 0) return Error::invalid("is shorter than 1ms (got " + quoted(text) + ")");
  return std::chrono::milliseconds{static_cast<std::int64_t>(millis)};
}

std::string formatDuration(std::chrono::milliseconds duration) {
  const std::int64_t millis = duration.count();
  if (millis == 0) return "0s";
  for (const auto& [unit, scale] : {std::pair{"h", 3'600'000}, std::pair{"m", 60'000}, std::pair{"s", 1'000}}) {
    if (millis % scale == 0) return std::to_string(millis / scale) + unit;
  }
  return std::to_string(millis) + "ms";
}

}  // namespace ringlb
