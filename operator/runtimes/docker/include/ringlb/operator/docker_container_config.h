#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ringlb/operator/docker_runtime_options.h"
#include "ringlb/operator/replica_variables.h"
#include "ringlb/operator/runtime.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

/// Labels on every container DockerRuntime creates. Listing filters on
/// kRing; adoption reads the rest back.
namespace docker_labels {
inline constexpr std::string_view kRing = "ringlb.dev/ring";
inline constexpr std::string_view kSlot = "ringlb.dev/slot";
inline constexpr std::string_view kVersion = "ringlb.dev/version";
inline constexpr std::string_view kSpecHash = "ringlb.dev/spec-hash";
inline constexpr std::string_view kNamespace = "ringlb.dev/namespace";
inline constexpr std::string_view kAddress = "ringlb.dev/address";
}  // namespace docker_labels

/// "ringlb-<ring>-<ordinal>", i.e. "ringlb-" + slot id.
std::string dockerContainerName(const ReplicaSpec& spec);

/// Where the operator reaches the replica: hostAddress:hostPort on the host
/// network, <container name>:<template.port> on a user-defined network.
std::string dockerReplicaAddress(const ReplicaSpec& spec, const DockerRuntimeOptions& options,
                                 std::uint16_t hostPort);

/// The POST /containers/create body for `spec`: image, entrypoint (template
/// command) and cmd (template args) with $(PORT) expanded, env (template env
/// plus PORT and RINGLB_SLOT), labels, network, memory and CPU limits and
/// restart policy "no". `hostPort` is used on the host network only. Returns
/// an Error starting "InvalidSpec:" naming the template field at fault.
Result<nlohmann::json> dockerContainerCreateBody(const ReplicaSpec& spec, const DockerRuntimeOptions& options,
                                                 std::uint16_t hostPort);

}  // namespace ringlb::op
