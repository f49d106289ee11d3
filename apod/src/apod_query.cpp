#include "ringlb/apod/apod_query.h"

#include <limits>
#include <string>

namespace ringlb::apod {
namespace {

constexpr const char* kCombinationError =
    "Bad Request: invalid field combination passed. Allowed request fields for apod method are "
    "'concept_tags', 'date', 'hd', 'count', 'start_date', 'end_date', 'thumbs'";

bool isSpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python's int(text): surrounding whitespace, an optional sign, digits with single '_' between
// digits. Values beyond int's range saturate; they fail the count bound check anyway.
Result<long long> parsePythonInt(std::string_view text) {
  const Error invalid{"invalid literal for int() with base 10: " + pythonRepr(text)};
  std::string_view s = text;
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return invalid;
  long long value = 0;
  bool previousDigit = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (!previousDigit || i + 1 == s.size()) return invalid;
      previousDigit = false;
      continue;
    }
    if (c < '0' || c > '9') return invalid;
    previousDigit = true;
    if (value < std::numeric_limits<long long>::max() / 10) value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

Result<CivilDate> parseBoundedDate(std::string_view text, const std::optional<DateBounds>& bounds) {
  auto date = parseIsoDate(text);
  if (!date) return date;
  if (bounds && (date.value() < bounds->first || date.value() > bounds->last)) {
    return Error{"Date must be between " + bounds->first.display() + " and " + bounds->last.display() + "."};
  }
  return date;
}

bool truthy(std::optional<std::string_view> value) {
  return value && (*value == "true" || *value == "True" || *value == "1");
}

}  // namespace

Result<ApodQuery> parseApodQuery(const QueryParams& params, const std::optional<DateBounds>& bounds) {
  const auto date = params.nonEmpty("date");
  const auto count = params.nonEmpty("count");
  const auto start = params.nonEmpty("start_date");
  const auto end = params.nonEmpty("end_date");

  ApodQuery query;
  query.thumbs = truthy(params.nonEmpty("thumbs"));

  if (!count && !start && !end) {
    if (!date) {
      query.kind = ApodQuery::Kind::kLatest;
      return query;
    }
    auto parsed = parseBoundedDate(*date, bounds);
    if (!parsed) return Error{parsed.error()};
    query.kind = ApodQuery::Kind::kDate;
    query.date = parsed.value();
    return query;
  }

  if (!date && !start && !end && count) {
    auto n = parsePythonInt(*count);
    if (!n) return Error{n.error()};
    if (n.value() <= 0 || n.value() > kMaxCount) return Error{"Count must be positive and cannot exceed 100"};
    query.kind = ApodQuery::Kind::kRandom;
    query.count = static_cast<int>(n.value());
    return query;
  }

  if (!count && !date && start) {
    auto first = parseBoundedDate(*start, bounds);
    if (!first) return Error{first.error()};
    query.kind = ApodQuery::Kind::kRange;
    query.start = first.value();
    if (end) {
      auto last = parseBoundedDate(*end, bounds);
      if (!last) return Error{last.error()};
      query.end = last.value();
    } else if (bounds) {
      query.end = bounds->last;
    }
    if (query.end && *query.start > *query.end) return Error{"start_date cannot be after end_date"};
    return query;
  }

  return Error{kCombinationError};
}

}  // namespace ringlb::apod
