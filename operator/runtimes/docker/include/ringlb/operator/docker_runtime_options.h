#pragma once

#include <chrono>
#include <string>

namespace ringlb::op {

/// How DockerRuntime places and labels containers.
struct DockerRuntimeOptions {
  /// Empty: host networking, each container on a free port of `hostAddress`
  /// passed as $PORT (the default, and what the tests use). Otherwise the
  /// name of a user-defined bridge network; replicas are then addressed as
  /// `<container name>:<template.port>` and the operator must be on it too.
  std::string network;
  /// Host networking: the address replicas are probed and routed at.
  std::string hostAddress = "127.0.0.1";
  /// Grace before SIGKILL when a container is replaced for a new spec hash.
  std::chrono::seconds replaceGrace{10};
  /// Value of the ringlb.dev/version label: the ringlb release that made it.
  std::string version = "0.1.0";
  /// Reconnect backoff of the /events watch: doubles from min up to max.
  std::chrono::milliseconds eventsBackoffMin{100};
  std::chrono::milliseconds eventsBackoffMax{5000};
  /// Bound of each Engine API request (--docker-timeout); a container stop
  /// waits its grace on top.
  std::chrono::milliseconds requestTimeout{30000};
};

}  // namespace ringlb::op
