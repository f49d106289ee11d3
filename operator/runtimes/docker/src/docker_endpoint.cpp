#include "ringlb/operator/docker_endpoint.h"

#include <charconv>
#include <cstdlib>

namespace ringlb::op {

namespace {
constexpr std::string_view kUnixScheme = "unix://";
constexpr std::string_view kTcpScheme = "tcp://";
constexpr std::uint16_t kDefaultTcpPort = 2375;

Error badHost(std::string_view value, std::string_view why) {
  return Error{"DOCKER_HOST '" + std::string(value) + "': " + std::string(why)};
}
}  // namespace

std::string DockerEndpoint::describe() const {
  if (kind == Kind::Unix) return "unix://" + path;
  return "tcp://" + host + ":" + std::to_string(port);
}

Result<DockerEndpoint> parseDockerHost(std::string_view value) {
  DockerEndpoint endpoint;
  if (value.starts_with(kUnixScheme)) {
    endpoint.kind = DockerEndpoint::Kind::Unix;
    endpoint.path = std::string(value.substr(kUnixScheme.size()));
    if (endpoint.path.empty() || endpoint.path.front() != '/') {
      return badHost(value, "expected an absolute socket path, as in unix:///var/run/docker.sock");
    }
    return endpoint;
  }
  if (value.starts_with(kTcpScheme)) {
    endpoint.kind = DockerEndpoint::Kind::Tcp;
    std::string_view rest = value.substr(kTcpScheme.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find('/') != std::string_view::npos) {
      return badHost(value, "a path after host:port is not supported");
    }
    std::string_view hostPart = rest;
    std::string_view portPart;
    if (rest.starts_with('[')) {  // [::1]:2375
      const auto close = rest.find(']');
      if (close == std::string_view::npos) return badHost(value, "unterminated IPv6 address");
      hostPart = rest.substr(1, close - 1);
      std::string_view after = rest.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') return badHost(value, "expected ':' after the IPv6 address");
        portPart = after.substr(1);
      }
    } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
      hostPart = rest.substr(0, colon);
      portPart = rest.substr(colon + 1);
    }
    if (hostPart.empty()) return badHost(value, "missing host");
    endpoint.host = std::string(hostPart);
    endpoint.port = kDefaultTcpPort;
    if (!portPart.empty()) {
      unsigned port = 0;
      const auto [end, ec] = std::from_chars(portPart.data(), portPart.data() + portPart.size(), port);
      if (ec != std::errc{} || end != portPart.data() + portPart.size() || port == 0 || port > 65535) {
        return badHost(value, "port must be a number from 1 to 65535");
      }
      endpoint.port = static_cast<std::uint16_t>(port);
    }
    return endpoint;
  }
  return badHost(value, "only unix:// and tcp:// endpoints are supported");
}

Result<DockerEndpoint> dockerEndpointFromEnvironment() {
  if (const char* tls = std::getenv("DOCKER_TLS_VERIFY"); tls != nullptr && *tls != '\0') {
    return Error{"DOCKER_TLS_VERIFY is set, but ringlb talks to Docker without TLS: use the unix socket or a local tcp:// endpoint"};
  }
  const char* host = std::getenv("DOCKER_HOST");
  if (host == nullptr || *host == '\0') return DockerEndpoint{};
  return parseDockerHost(host);
}

}  // namespace ringlb::op
