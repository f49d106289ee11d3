#pragma once

#include <string>
#include <string_view>

namespace ringlb {

/// The value of one hexadecimal digit (either case), or -1 for any other character.
constexpr int hexDigitValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-encodes `text` for a URL query value or path segment: RFC 3986 unreserved
/// characters are kept, every other byte becomes %XX (upper-case hex). Thread-safe.
std::string percentEncode(std::string_view text);

}  // namespace ringlb
