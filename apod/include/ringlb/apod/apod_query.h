#pragma once

#include <optional>

#include "ringlb/apod/civil_date.h"
#include "ringlb/apod/query_params.h"
#include "ringlb/base/result.h"

namespace ringlb::apod {

/// The dates a source can serve, inclusive. The real API's range is [1995-06-16, today].
struct DateBounds {
  CivilDate first;
  CivilDate last;
};

/// The largest `count` the API accepts.
inline constexpr int kMaxCount = 100;

/// A validated `GET /planetary/apod` request.
struct ApodQuery {
  enum class Kind {
    kLatest,  // no parameters: the latest date
    kDate,    // ?date=
    kRange,   // ?start_date=[&end_date=]
    kRandom,  // ?count=
  };
  Kind kind = Kind::kLatest;
  std::optional<CivilDate> date;   // kDate
  std::optional<CivilDate> start;  // kRange
  std::optional<CivilDate> end;    // kRange; nullopt = the source's last date
  int count = 0;                   // kRandom, in [1, kMaxCount]
  bool thumbs = false;             // add thumbnail_url to videos
};

/// Parses and validates the API's query parameters the way the real service does, in its
/// order, with its messages:
///  - which parameters combine: date | count | start_date[+end_date] | none; anything else is
///    "Bad Request: invalid field combination passed. ..."; empty values count as absent;
///    unknown parameters (api_key, hd, ...) are ignored;
///  - dates: Python strptime messages (see parseIsoDate);
///  - bounds: "Date must be between Jun 16, 1995 and <last>." -- checked only when `bounds`
///    is given (an upstream decides its own bounds);
///  - "start_date cannot be after end_date";
///  - count: Python int() syntax, "Count must be positive and cannot exceed 100".
/// Every error is a client error (HTTP 400). Never throws; thread-safe.
Result<ApodQuery> parseApodQuery(const QueryParams& params, const std::optional<DateBounds>& bounds);

}  // namespace ringlb::apod
