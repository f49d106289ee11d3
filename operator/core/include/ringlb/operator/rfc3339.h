#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb::op {

/// RFC 3339 UTC, seconds ("2026-01-02T03:04:05Z") or microseconds
/// ("2026-01-02T03:04:05.123456Z", metav1.MicroTime). Pure; thread-safe.
std::string formatRfc3339(std::chrono::system_clock::time_point time, bool micro = false);

/// Parses either RFC 3339 form above (and a numeric offset). Error on bad text.
Result<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text);

}  // namespace ringlb::op
