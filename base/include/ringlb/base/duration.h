#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb {

/// The accepted forms, for help texts and error messages.
inline constexpr std::string_view kDurationForms =
    "a number with a unit ms, s, m or h (500ms, 1.5s, 2m, 1h); a bare number is seconds";

/// The longest duration parseDuration accepts: 10^12 ms (about 31 years), so that adding it
/// to any clock's now() cannot overflow.
inline constexpr std::chrono::milliseconds kMaxDuration{1'000'000'000'000};

/// Parses a duration, the one syntax of every duration in config files and flags:
/// a non-negative decimal number (`10`, `1.5`, `.5`, `1e3`) followed by a unit,
/// `ms`, `s`, `m` or `h`, with no space between; a bare number means seconds.
/// The value is rounded down to whole milliseconds. Zero is a duration; callers that need
/// a positive one check for it. Returns an Invalid error naming the text when it is empty,
/// negative, malformed, has another unit, is longer than kMaxDuration, or is above zero
/// but shorter than 1ms. Pure; safe from any thread.
Result<std::chrono::milliseconds> parseDuration(std::string_view text);

/// The shortest form of a non-negative `duration` that parseDuration reads back exactly, in the largest unit
/// that divides it: 1h, 90s, 1500ms, 0s. For defaults shown in help texts. Pure.
std::string formatDuration(std::chrono::milliseconds duration);

}  // namespace ringlb
