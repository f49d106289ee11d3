#include "ringlb/operator/runtime_factory.h"

#include "ringlb/operator/docker_runtime_factory.h"
#include "ringlb/operator/process_runtime.h"

namespace ringlb::op {

std::vector<std::string> availableRuntimes() { return {"process", "docker"}; }

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
  // Register further runtimes above, as docker is.
  std::string available;
  for (const auto& name : availableRuntimes()) available += (available.empty() ? "" : ", ") + name;
  if (options.name == "docker" || options.name == "kubernetes") {
    return Error{"--runtime " + options.name + ": not available in this build (available: " + available + ")"};
  }
  return Error{"--runtime: unknown runtime '" + options.name + "' (one of process, docker, kubernetes; available: " +
               available + ")"};
}

}  // namespace ringlb::op
