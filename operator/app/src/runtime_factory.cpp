#include "ringlb/operator/runtime_factory.h"

#include "ringlb/operator/docker_runtime_factory.h"
#include "ringlb/operator/process_runtime.h"

namespace ringlb::op {

std::vector<std::string> availableRuntimes() { return {"process", "docker", "kubernetes"}; }

Result<std::unique_ptr<Runtime>> makeRuntime(const RuntimeOptions& options) {
  if (options.name == "process") {
    ProcessRuntimeOptions process;
    process.stateDir = options.stateDir;
    return std::unique_ptr<Runtime>(std::make_unique<ProcessRuntime>(std::move(process)));
  }
  if (options.name == "docker") {
    DockerRuntimeOptions docker;
    docker.network = options.dockerNetwork;
    docker.replaceGrace = options.stopGrace;
    return makeDockerRuntime(options.dockerHost, std::move(docker));
  }
  if (options.name == "kubernetes") {
    if (options.kubernetesApi == nullptr) {
      return Error{"--runtime kubernetes: no Kubernetes API client (needs --kubeconfig, in-cluster config or ~/.kube/config)"};
    }
    KubernetesRuntimeOptions kubernetes;
    kubernetes.watchNamespaces = options.kubernetesNamespaces;
    return std::unique_ptr<Runtime>(std::make_unique<KubernetesRuntime>(
        *options.kubernetesApi, std::move(kubernetes), options.kubernetesOwners, options.kubernetesEvents));
  }
  // Register further runtimes above.
  std::string available;
  for (const auto& name : availableRuntimes()) available += (available.empty() ? "" : ", ") + name;
  return Error{"--runtime: unknown runtime '" + options.name + "' (one of process, docker, kubernetes; available: " +
               available + ")"};
}

}  // namespace ringlb::op
