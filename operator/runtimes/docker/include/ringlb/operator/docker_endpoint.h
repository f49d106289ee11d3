#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb::op {

/// Where the Docker Engine API listens: a unix socket or a plain TCP port.
/// TLS endpoints are not supported (use the socket, or a local tcp:// port).
struct DockerEndpoint {
  enum class Kind : std::uint8_t { Unix, Tcp };
  Kind kind = Kind::Unix;
  std::string path = "/var/run/docker.sock";  // Unix
  std::string host;                           // Tcp
  std::uint16_t port = 0;                     // Tcp

  /// "unix:///var/run/docker.sock" or "tcp://127.0.0.1:2375", for messages.
  std::string describe() const;
};

/// Parses a DOCKER_HOST value: "unix:///path" or "tcp://host[:port]" (port
/// 2375 when omitted). Returns an Error naming the value for other schemes
/// (ssh://, npipe://, fd://) and malformed values.
Result<DockerEndpoint> parseDockerHost(std::string_view value);

/// The endpoint from the environment: DOCKER_HOST when set, else the default
/// socket. Returns an Error when DOCKER_HOST is malformed or DOCKER_TLS_VERIFY
/// asks for TLS.
Result<DockerEndpoint> dockerEndpointFromEnvironment();

}  // namespace ringlb::op
