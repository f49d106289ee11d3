#include "ringlb/operator/runtime_factory.h"

#include "ringlb/operator/docker_runtime_factory.h"
#include "ringlb/operator/kubernetes_runtime.h"
#include "ringlb/operator/kubernetes_source.h"
#include "ringlb/operator/process_runtime.h"

namespace ringlb::op {

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
    docker.requestTimeout = options.dockerTimeout;
    return makeDockerRuntime(options.dockerHost, std::move(docker));
  }
  if (options.name == "kubernetes") {
    if (options.kubernetesApi == nullptr) {
      return Error{"--runtime kubernetes: no Kubernetes API client (needs --kubeconfig, in-cluster config or ~/.kube/config)"};
    }
    KubernetesRuntimeOptions kubernetes;
    kubernetes.watchNamespaces = options.kubernetesNamespaces;
    KubernetesRuntime::OwnerLookup owners;
    if (const KubernetesSource* source = options.kubernetesOwners) {
      owners = [source](const std::string& ns, const std::string& name) { return source->owner(ns, name); };
    }
    return std::unique_ptr<Runtime>(std::make_unique<KubernetesRuntime>(
        *options.kubernetesApi, std::move(kubernetes), std::move(owners), options.kubernetesEvents));
  }
  return Error{"--runtime: unknown runtime '" + options.name + "' (one of process, docker, kubernetes)"};
}

}  // namespace ringlb::op
