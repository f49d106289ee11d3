#pragma once

#include <string>
#include <string_view>

namespace ringlb::op {

/// Percent-encodes a URL query value, keeping only RFC 3986 unreserved
/// characters. Used for Docker Engine filters and Kubernetes selectors.
std::string urlEncode(std::string_view value);

}  // namespace ringlb::op
