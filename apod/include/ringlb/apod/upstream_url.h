#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb::apod {

/// Where the real APOD API lives, e.g. https://api.nasa.gov or http://127.0.0.1:9000/base.
struct UpstreamUrl {
  bool tls = false;
  std::string host;        // name or IP literal, without brackets
  std::uint16_t port = 0;  // explicit or the scheme's default
  std::string basePath;    // "" or "/base", never ending in '/'

  /// Parses an http:// or https:// URL with an optional port and base path. Errors name what
  /// is wrong (scheme, host, port, query). Never throws.
  static Result<UpstreamUrl> parse(std::string_view text);

  /// The Host header value ("api.nasa.gov", "127.0.0.1:9000", "[::1]:9000").
  [[nodiscard]] std::string hostHeader() const;
};

}  // namespace ringlb::apod
