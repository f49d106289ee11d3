#pragma once

#include <memory>
#include <string>

#include "ringlb/operator/docker_runtime_options.h"
#include "ringlb/operator/runtime.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

/// Builds the DockerRuntime for `--runtime docker`: the endpoint from
/// `dockerHost` when set, else DOCKER_HOST, else /var/run/docker.sock.
/// Returns an Error naming the bad flag or variable. Does not contact the
/// daemon: an unreachable daemon is reported by each call, and the operator
/// keeps serving its last rings meanwhile.
Result<std::unique_ptr<Runtime>> makeDockerRuntime(const std::string& dockerHost, DockerRuntimeOptions options);

}  // namespace ringlb::op
