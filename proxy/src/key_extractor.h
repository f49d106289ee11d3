#pragma once

#include <string_view>

#include "head_parser.h"
#include "ringlb/ring/ring_spec.h"

namespace ringlb::proxy {

/// A request's hash key.
struct RequestKey {
  std::string_view key;   // a view into the head or the client address
  bool fallback = false;  // the configured source was missing, so the path was used
};

/// Extracts the hash key of a request. Sources (ring `hashing.key` or `--key`):
///   path          the path without the query (the default)
///   pathAndQuery  the request target as sent (absolute-form reduced to path and query)
///   header:NAME   the first NAME field's value
///   cookie:NAME   the NAME cookie's value
///   query:NAME    the NAME query parameter's raw (undecoded) value
///   sourceIP      the client's address
/// Fallback rule: when the header, cookie or parameter is missing or empty,
/// the path is the key, so such requests still spread by path and stay
/// consistent. No normalisation or percent-decoding is applied.
/// Pure; allocates nothing.
RequestKey extractKey(std::string_view head, const RequestHead& parsed, const ring::KeySpec& spec,
                      std::string_view clientIp) noexcept;

/// The request target without scheme and authority (absolute-form) — "/" when
/// that leaves nothing.
std::string_view originTarget(std::string_view target) noexcept;

/// The path part of a request target (no query).
std::string_view targetPath(std::string_view target) noexcept;

}  // namespace ringlb::proxy
