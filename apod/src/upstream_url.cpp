#include "ringlb/apod/upstream_url.h"

#include <charconv>

namespace ringlb::apod {

Result<UpstreamUrl> UpstreamUrl::parse(std::string_view text) {
  UpstreamUrl url;
  std::string_view rest;
  if (text.rfind("http://", 0) == 0) {
    rest = text.substr(7);
  } else if (text.rfind("https://", 0) == 0) {
    url.tls = true;
    rest = text.substr(8);
  } else {
    return Error{"upstream URL '" + std::string(text) + "' must start with http:// or https://"};
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Error{"upstream URL '" + std::string(text) + "' must not carry a query or fragment"};
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.basePath = std::string(path);
  if (authority.find('@') != std::string_view::npos) {
    return Error{"upstream URL '" + std::string(text) + "' must not carry user info; pass the key with --api-key"};
  }

  std::string_view portText;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return Error{"upstream URL '" + std::string(text) + "': unclosed '[' in host"};
    url.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Error{"upstream URL '" + std::string(text) + "': junk after ']'"};
      portText = after.substr(1);
      if (portText.empty()) return Error{"upstream URL '" + std::string(text) + "': empty port"};
    }
  } else {
    const auto colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      portText = authority.substr(colon + 1);
      if (portText.empty()) return Error{"upstream URL '" + std::string(text) + "': empty port"};
    }
  }
  if (url.host.empty()) return Error{"upstream URL '" + std::string(text) + "' has no host"};

  url.port = url.tls ? 443 : 80;
  if (!portText.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), value);
    if (ec != std::errc{} || end != portText.data() + portText.size() || value == 0 || value > 65535) {
      return Error{"upstream URL '" + std::string(text) + "': port '" + std::string(portText) +
                   "' is not a number in 1-65535"};
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  return url;
}

std::string UpstreamUrl::hostHeader() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string out = ipv6 ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

}  // namespace ringlb::apod
