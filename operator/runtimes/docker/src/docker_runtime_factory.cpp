#include "ringlb/operator/docker_runtime_factory.h"

#include "ringlb/operator/docker_runtime.h"

namespace ringlb::op {

Result<std::unique_ptr<Runtime>> makeDockerRuntime(const std::string& dockerHost, DockerRuntimeOptions options) {
  auto endpoint = dockerHost.empty() ? dockerEndpointFromEnvironment() : parseDockerHost(dockerHost);
  if (!endpoint.ok()) return Error{"--runtime docker: " + endpoint.error()};
  if (!options.network.empty() && options.network == "host") {
    return Error{"--docker-network host: leave the flag out for host networking (the default)"};
  }
  return std::unique_ptr<Runtime>(std::make_unique<DockerRuntime>(DockerClient(endpoint.value(), options.requestTimeout), std::move(options)));
}

}  // namespace ringlb::op
