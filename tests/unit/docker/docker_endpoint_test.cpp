#include "ringlb/operator/docker_endpoint.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace ringlb::op {
namespace {

TEST(DockerEndpoint, ParsesUnixSocket) {
  const auto endpoint = parseDockerHost("unix:///run/user/1000/docker.sock");
  ASSERT_TRUE(endpoint.ok()) << endpoint.error();
  EXPECT_EQ(endpoint->kind, DockerEndpoint::Kind::Unix);
  EXPECT_EQ(endpoint->path, "/run/user/1000/docker.sock");
  EXPECT_EQ(endpoint->describe(), "unix:///run/user/1000/docker.sock");
}

TEST(DockerEndpoint, ParsesTcp) {
  auto endpoint = parseDockerHost("tcp://127.0.0.1:23750");
  ASSERT_TRUE(endpoint.ok()) << endpoint.error();
  EXPECT_EQ(endpoint->kind, DockerEndpoint::Kind::Tcp);
  EXPECT_EQ(endpoint->host, "127.0.0.1");
  EXPECT_EQ(endpoint->port, 23750);
  endpoint = parseDockerHost("tcp://localhost");
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->port, 2375);
  endpoint = parseDockerHost("tcp://[::1]:2376/");
  ASSERT_TRUE(endpoint.ok()) << endpoint.error();
  EXPECT_EQ(endpoint->host, "::1");
  EXPECT_EQ(endpoint->port, 2376);
}

TEST(DockerEndpoint, RejectsWhatItCannotServeNamingTheValue) {
  const std::pair<const char*, const char*> cases[] = {
      {"ssh://me@host", "only unix:// and tcp://"},
      {"npipe:////./pipe/docker_engine", "only unix:// and tcp://"},
      {"unix://relative.sock", "absolute socket path"},
      {"tcp://:2375", "missing host"},
      {"tcp://h:0", "port must be a number"},
      {"tcp://h:99999", "port must be a number"},
      {"tcp://h:12ab", "port must be a number"},
      {"tcp://h:1/path", "path after host:port"},
      {"tcp://[::1", "unterminated IPv6"},
  };
  for (const auto& [value, expect] : cases) {
    const auto endpoint = parseDockerHost(value);
    ASSERT_FALSE(endpoint.ok()) << value;
    EXPECT_NE(endpoint.error().find(std::string("DOCKER_HOST '") + value + "'"), std::string::npos) << endpoint.error();
    EXPECT_NE(endpoint.error().find(expect), std::string::npos) << endpoint.error();
  }
}

TEST(DockerEndpoint, FromEnvironment) {
  ::unsetenv("DOCKER_TLS_VERIFY");
  ::unsetenv("DOCKER_HOST");
  auto endpoint = dockerEndpointFromEnvironment();
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->describe(), "unix:///var/run/docker.sock");
  ::setenv("DOCKER_HOST", "tcp://127.0.0.1:1234", 1);
  endpoint = dockerEndpointFromEnvironment();
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->describe(), "tcp://127.0.0.1:1234");
  ::setenv("DOCKER_TLS_VERIFY", "1", 1);
  endpoint = dockerEndpointFromEnvironment();
  ASSERT_FALSE(endpoint.ok());
  EXPECT_NE(endpoint.error().find("DOCKER_TLS_VERIFY"), std::string::npos);
  ::unsetenv("DOCKER_TLS_VERIFY");
  ::unsetenv("DOCKER_HOST");
}

}  // namespace
}  // namespace ringlb::op
