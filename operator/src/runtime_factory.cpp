#include "ringlb/operator/runtime_factory.h"

#include "ringlb/operator/process_runtime.h"

namespace ringlb::op {

std::vector<std::string> availableRuntimes() { return {"process"}; }

Result<std::unique_ptr<Runtime>> makeRuntime(const RuntimeOptions& options) {
  if (options.name == "process") {
    ProcessRuntimeOptions process;
    process.stateDir = options.stateDir;
    return std::unique_ptr<Runtime>(std::make_unique<ProcessRuntime>(std::move(process)));
  }
  // Register further runtimes above, e.g. `if (options.name == "docker") return makeDockerRuntime(options);`.
  std::string available;
  for (const auto& name : availableRuntimes()) available += (available.empty() ? "" : ", ") + name;
  if (options.name == "docker" || options.name == "kubernetes") {
    return Error{"--runtime " + options.name + ": not available in this build (available: " + available + ")"};
  }
  return Error{"--runtime: unknown runtime '" + options.name + "' (one of process, docker, kubernetes; available: " +
               available + ")"};
}

}  // namespace ringlb::op
