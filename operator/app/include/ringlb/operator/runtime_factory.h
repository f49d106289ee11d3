#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ringlb/operator/runtime.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

class KubernetesApi;
class KubernetesEventRecorder;
class KubernetesSource;

/// Everything a runtime may need from the command line and the wiring.
struct RuntimeOptions {
  std::string name = "process";     // --runtime
  std::filesystem::path stateDir;   // --state-dir
  std::string dockerHost;           // --docker-host (default: $DOCKER_HOST, else the local socket)
  std::string dockerNetwork;        // --docker-network (default: host networking on 127.0.0.1)
  std::chrono::milliseconds dockerTimeout{30000};  // --docker-timeout: each Engine API request
  std::chrono::seconds stopGrace{10};  // --stop-grace-seconds

  // kubernetes: the API client and the event recorder (both owned by the
  // caller), the namespaces whose Pods are watched (empty: all), and the source
  // that knows each HashRing owning a Pod (null: the runtime reads the HashRing
  // from the API).
  KubernetesApi* kubernetesApi = nullptr;
  std::vector<std::string> kubernetesNamespaces;
  const KubernetesSource* kubernetesOwners = nullptr;
  KubernetesEventRecorder* kubernetesEvents = nullptr;
};

/// The one place a runtime is chosen by name: "process" (the default),
/// "docker" or "kubernetes". Returns the runtime, or an Error naming the flag
/// at fault: an unknown name, a bad Docker endpoint, or kubernetes without an
/// API client.
Result<std::unique_ptr<Runtime>> makeRuntime(const RuntimeOptions& options);

}  // namespace ringlb::op
