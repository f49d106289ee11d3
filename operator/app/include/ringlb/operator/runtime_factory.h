#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/operator/kubernetes_event_recorder.h"
#include "ringlb/operator/kubernetes_runtime.h"
#include "ringlb/operator/runtime.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

/// Everything a runtime may need from the command line. Runtimes added later
/// (docker, kubernetes) add their own fields here.
struct RuntimeOptions {
  std::string name = "process";     // --runtime
  std::filesystem::path stateDir;   // --state-dir
  std::string dockerHost;           // --docker-host (default: $DOCKER_HOST, else the local socket)
  std::string dockerNetwork;        // --docker-network (default: host networking on 127.0.0.1)
  std::chrono::seconds stopGrace{10};  // --stop-grace-seconds

  // kubernetes: the API client (owned by the caller), the namespace whose Pods
  // are watched (empty: all), the owner lookup and the event recorder.
  KubernetesApi* kubernetesApi = nullptr;
  std::vector<std::string> kubernetesNamespaces;
  KubernetesRuntime::OwnerLookup kubernetesOwners;
  KubernetesEventRecorder* kubernetesEvents = nullptr;
};

/// The one place a runtime is chosen by name: "process" (built in, the
/// default), "docker" and "kubernetes" (added by their own source files; until
/// then they are reported as unavailable). Returns the runtime or an Error
/// naming the runtimes this build has.
Result<std::unique_ptr<Runtime>> makeRuntime(const RuntimeOptions& options);

/// Names makeRuntime() accepts in this build.
std::vector<std::string> availableRuntimes();

}  // namespace ringlb::op
