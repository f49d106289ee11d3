#include "ringlb/operator/docker_container_config.h"

#include <cmath>

namespace ringlb::op {

namespace {
// Docker refuses memory limits below 6 MiB.
constexpr std::uint64_t kMinMemoryBytes = 6U * 1024U * 1024U;

bool validContainerName(std::string_view name) {
  // Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]+
  if (name.size() < 2) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front())) return false;
  for (const char c : name) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

Error invalid(const ReplicaSpec& spec, const std::string& what) {
  return Error{"InvalidSpec: HashRing " + spec.ringNamespace + "/" + spec.ring + " " + what};
}
}  // namespace

std::string dockerContainerName(const ReplicaSpec& spec) { return "ringlb-" + spec.slot; }

std::string dockerReplicaAddress(const ReplicaSpec& spec, const DockerRuntimeOptions& options,
                                 std::uint16_t hostPort) {
  if (options.network.empty()) return options.hostAddress + ":" + std::to_string(hostPort);
  return dockerContainerName(spec) + ":" + std::to_string(spec.templ.port);
}

Result<nlohmann::json> dockerContainerCreateBody(const ReplicaSpec& spec, const DockerRuntimeOptions& options,
                                                 std::uint16_t hostPort) {
  const ReplicaTemplate& templ = spec.templ;
  if (templ.image.empty()) return invalid(spec, "spec.template.image is empty: the docker runtime needs an image");
  if (spec.ring.empty() || spec.slot.empty()) return invalid(spec, "has an empty ring or slot name");
  const std::string name = dockerContainerName(spec);
  if (!validContainerName(name)) {
    return invalid(spec, "gives container name '" + name +
                             "', which Docker rejects (letters, digits, '_', '.', '-' only)");
  }
  if (templ.memoryBytes && *templ.memoryBytes < kMinMemoryBytes) {
    return invalid(spec, "spec.template.resources.limits.memory " + std::to_string(*templ.memoryBytes) +
                             " bytes is below Docker's minimum of 6 MiB");
  }
  if (templ.cpus && !(std::isfinite(*templ.cpus) && *templ.cpus > 0.0)) {
    return invalid(spec, "spec.template.resources.limits.cpu must be a positive number");
  }
  const bool hostNetwork = options.network.empty();
  if (hostNetwork && hostPort == 0) return invalid(spec, "has no host port assigned");
  const std::uint16_t port = hostNetwork ? hostPort : templ.port;
  if (port == 0) return invalid(spec, "spec.template.port must be 1..65535");

  // The runtime owns these: the port it assigned, the address to listen on (host networking
  // shares the host's interfaces, so loopback only) and the slot.
  const std::vector<std::pair<std::string, std::string>> owned = {
      {std::string(kPortVariable), std::to_string(port)},
      {std::string(kSlotVariable), spec.slot},
      {std::string(kListenAddressVariable), hostNetwork ? options.hostAddress : std::string("0.0.0.0")}};
  std::map<std::string, std::string> vars;
  for (const auto& env : templ.env) vars[env.name] = env.value;
  for (const auto& [owner, value] : owned) vars[owner] = value;

  nlohmann::json env = nlohmann::json::array();
  for (const auto& [owner, value] : owned) env.push_back(owner + "=" + value);
  for (const auto& var : templ.env) {
    if (var.name.empty() || var.name.find('=') != std::string::npos) {
      return invalid(spec, "spec.template.env has an invalid name '" + var.name + "'");
    }
    if (var.name == kPortVariable || var.name == kSlotVariable || var.name == kListenAddressVariable) continue;
    env.push_back(var.name + "=" + expandVariables(var.value, vars));
  }

  nlohmann::json body;
  body["Image"] = templ.image;
  if (!templ.command.empty()) {
    nlohmann::json entrypoint = nlohmann::json::array();
    for (const auto& part : templ.command) entrypoint.push_back(expandVariables(part, vars));
    body["Entrypoint"] = std::move(entrypoint);
  }
  if (!templ.args.empty()) {
    nlohmann::json cmd = nlohmann::json::array();
    for (const auto& arg : templ.args) cmd.push_back(expandVariables(arg, vars));
    body["Cmd"] = std::move(cmd);
  }
  body["Env"] = std::move(env);
  if (const auto& user = templ.securityContext.runAsUser) {
    const auto& group = templ.securityContext.runAsGroup;
    body["User"] = std::to_string(*user) + (group ? ":" + std::to_string(*group) : std::string());
  }
  body["Labels"] = {
      {std::string(docker_labels::kRing), spec.ring},
      {std::string(docker_labels::kSlot), spec.slot},
      {std::string(docker_labels::kVersion), options.version},
      {std::string(docker_labels::kSpecHash), spec.specHash},
      {std::string(docker_labels::kNamespace), spec.ringNamespace},
      {std::string(docker_labels::kAddress), dockerReplicaAddress(spec, options, hostPort)},
  };

  nlohmann::json host;
  // The operator, not dockerd, decides when a replica is replaced.
  host["RestartPolicy"] = {{"Name", "no"}, {"MaximumRetryCount", 0}};
  host["NetworkMode"] = hostNetwork ? std::string("host") : options.network;
  host["LogConfig"] = {{"Type", "json-file"}, {"Config", {{"max-size", "10m"}, {"max-file", "2"}}}};
  if (templ.memoryBytes) host["Memory"] = *templ.memoryBytes;
  if (templ.cpus) host["NanoCpus"] = static_cast<std::int64_t>(std::llround(*templ.cpus * 1e9));
  body["HostConfig"] = std::move(host);
  if (!hostNetwork) {
    body["ExposedPorts"] = {{std::to_string(port) + "/tcp", nlohmann::json::object()}};
    body["NetworkingConfig"] = {{"EndpointsConfig", {{options.network, {{"Aliases", {spec.slot}}}}}}};
  }
  return body;
}

}  // namespace ringlb::op
