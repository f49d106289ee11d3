#pragma once

#include <string>
#include <string_view>

namespace ringlb {

/// Appends `text` to `out` as the body of a JSON string (without the quotes): `"` and `\`
/// escaped, control bytes as \n, \r, \t, \b, \f or \u00XX, and each byte that is not part of
/// well-formed UTF-8 as \ufffd, so that the result always parses as JSON. Pure.
void appendJsonEscaped(std::string& out, std::string_view text);

/// `text` as the body of a JSON string; see appendJsonEscaped.
std::string jsonEscape(std::string_view text);

}  // namespace ringlb
