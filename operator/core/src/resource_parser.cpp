#include "ringlb/operator/resource_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace ringlb::op {

namespace {

// Thrown inside the parser only, caught at its entry points and turned into a
// Result: it keeps the many field checks readable.
struct FieldError {
  std::string path;
  std::string reason;
};

[[noreturn]] void fail(const std::string& path, std::string reason) { throw FieldError{path, std::move(reason)}; }

std::string join(const std::string& path, std::string_view field) {
  return path.empty() ? std::string(field) : path + "." + std::string(field);
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    default: return "nothing";
  }
}

void requireMap(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) fail(path, "must be a mapping, got " + describe(node));
}

void rejectUnknown(const YAML::Node& node, const std::string& path, std::initializer_list<std::string_view> known) {
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string allowed;
      for (auto k : known) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
      fail(join(path, name), "unknown field (allowed: " + allowed + ")");
    }
  }
}

std::string readString(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail(path, "must be a string, got " + describe(node));
  return node.Scalar();
}

std::int64_t readInteger(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail(path, "must be an integer, got " + describe(node));
  const std::string& text = node.Scalar();
  std::int64_t value = 0;
  const char* begin = text.data();
  if (!text.empty() && text.front() == '+') ++begin;
  const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) fail(path, "is out of range, got '" + text + "'");
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
    fail(path, "must be an integer, got '" + text + "'");
  }
  return value;
}

std::int64_t readIntegerInRange(const YAML::Node& node, const std::string& path, std::int64_t min, std::int64_t max) {
  const std::int64_t value = readInteger(node, path);
  if (value < min) fail(path, "must be >= " + std::to_string(min) + ", got " + std::to_string(value));
  if (value > max) fail(path, "must be <= " + std::to_string(max) + ", got " + std::to_string(value));
  return value;
}

double readNumber(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail(path, "must be a number, got " + describe(node));
  const std::string& text = node.Scalar();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || !std::isfinite(value)) {
    fail(path, "must be a number, got '" + text + "'");
  }
  return value;
}

std::vector<std::string> readStringList(const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence()) fail(path, "must be a list of strings, got " + describe(node));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < node.size(); ++i) out.push_back(readString(node[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

std::map<std::string, std::string> readStringMap(const YAML::Node& node, const std::string& path) {
  requireMap(node, path);
  std::map<std::string, std::string> out;
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    out[name] = readString(entry.second, join(path, name));
  }
  return out;
}

// Kubernetes quantities: "256Mi", "1G", "1048576" (bytes) and "500m", "1.5" (cpus).
std::uint64_t readMemoryQuantity(const YAML::Node& node, const std::string& path) {
  const std::string text = readString(node, path);
  static const std::pair<std::string_view, double> kSuffixes[] = {
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"k", 1e3},     {"M", 1e6},        {"G", 1e9},           {"T", 1e12}};
  double multiplier = 1;
  std::string_view number = text;
  for (const auto& [suffix, factor] : kSuffixes) {
    if (number.size() > suffix.size() && number.ends_with(suffix)) {
      number.remove_suffix(suffix.size());
      multiplier = factor;
      break;
    }
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size() || !(value > 0)) {
    fail(path, "must be a positive memory quantity such as 256Mi, got '" + text + "'");
  }
  return static_cast<std::uint64_t>(value * multiplier);
}

double readCpuQuantity(const YAML::Node& node, const std::string& path) {
  const std::string text = readString(node, path);
  std::string_view number = text;
  double divisor = 1;
  if (number.ends_with("m")) {
    number.remove_suffix(1);
    divisor = 1000;
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size() || !(value > 0)) {
    fail(path, "must be a positive CPU quantity such as 500m or 1.5, got '" + text + "'");
  }
  return value / divisor;
}

bool isDnsLabel(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

ObjectMeta parseMetadata(const YAML::Node& node, const ParseOptions& options) {
  const std::string path = "metadata";
  if (!node) fail(path, "missing required field");
  requireMap(node, path);
  if (!options.fromKubernetes) rejectUnknown(node, path, {"name", "namespace", "labels", "annotations"});
  ObjectMeta meta;
  if (!node["name"]) fail("metadata.name", "missing required field");
  meta.name = readString(node["name"], "metadata.name");
  // Slot ids append "-<ordinal>" and must stay valid DNS labels for pods and containers.
  if (!isDnsLabel(meta.name) || meta.name.size() > 57) {
    fail("metadata.name", "must be a DNS label of at most 57 characters ([a-z0-9-]), got '" + meta.name + "'");
  }
  if (node["namespace"]) {
    meta.namespace_ = readString(node["namespace"], "metadata.namespace");
    if (!isDnsLabel(meta.namespace_)) fail("metadata.namespace", "must be a DNS label, got '" + meta.namespace_ + "'");
  }
  if (node["labels"]) meta.labels = readStringMap(node["labels"], "metadata.labels");
  if (node["annotations"]) readStringMap(node["annotations"], "metadata.annotations");
  if (options.fromKubernetes) {
    if (node["generation"]) meta.generation = readInteger(node["generation"], "metadata.generation");
    if (node["uid"]) meta.uid = readString(node["uid"], "metadata.uid");
    if (node["resourceVersion"]) meta.resourceVersion = readString(node["resourceVersion"], "metadata.resourceVersion");
  }
  return meta;
}

bool readBool(const YAML::Node& node, const std::string& path) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  fail(path, "must be true or false, got " + describe(node));
}

std::string readOneOf(const YAML::Node& node, const std::string& path, std::initializer_list<std::string_view> allowed) {
  const std::string text = readString(node, path);
  if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) return text;
  std::string names;
  for (auto name : allowed) {
    names += (names.empty() ? "" : ", ") + (name.empty() ? std::string("\"\"") : std::string(name));
  }
  fail(path, "must be one of " + names + ", got '" + text + "'");
}

bool isDnsSubdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    if (!isDnsLabel(name.substr(start, dot - start))) return false;
    start = dot + 1;
  }
  return true;
}

// A plain YAML scalar typed as kubectl types it (JSON from the API server
// quotes its strings, so those never get here). A leading 0 is octal, as in
// YAML 1.1 and `defaultMode: 0644`.
nlohmann::json plainScalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  const char* begin = text.data() + (text.front() == '+' ? 1 : 0);
  const char* end = text.data() + text.size();
  std::int64_t integer = 0;
  if (end - begin > 1 && *begin == '0' && std::all_of(begin, end, [](char c) { return c >= '0' && c <= '7'; })) {
    if (const auto [ptr, ec] = std::from_chars(begin + 1, end, integer, 8); ec == std::errc{} && ptr == end) return integer;
  }
  if (const auto [ptr, ec] = std::from_chars(begin, end, integer); ec == std::errc{} && ptr == end) return integer;
  double number = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec == std::errc{} && ptr == end && std::isfinite(number)) return number;
  return text;
}

// A core/v1 structure passed to the Pod as written.
nlohmann::json toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& entry : node) out[entry.first.as<std::string>()] = toJson(entry.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(toJson(item));
      return out;
    }
    // yaml-cpp tags quoted scalars "!": they stay strings.
    case YAML::NodeType::Scalar: return node.Tag() == "!" ? nlohmann::json(node.Scalar()) : plainScalar(node.Scalar());
    default: return nullptr;
  }
}

std::string item(const std::string& path, std::size_t index) { return path + "[" + std::to_string(index) + "]"; }

void requireList(const YAML::Node& node, const std::string& path, std::string_view of) {
  if (!node.IsSequence()) fail(path, "must be a list of " + std::string(of) + ", got " + describe(node));
}

std::string requiredString(const YAML::Node& node, const std::string& path, std::string_view field) {
  if (!node[std::string(field)]) fail(join(path, field), "missing required field");
  const std::string value = readString(node[std::string(field)], join(path, field));
  if (value.empty()) fail(join(path, field), "must not be empty");
  return value;
}

// Kubernetes quantities other than cpu and memory (ephemeral-storage, hugepages-2Mi, ...).
std::string readQuantity(const YAML::Node& node, const std::string& path) {
  const std::string text = readString(node, path);
  static const std::regex kQuantity(R"(^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[mkMGTPE]|([eE][+-]?[0-9]+))?$)");
  if (!std::regex_match(text, kQuantity)) {
    fail(path, "must be a Kubernetes quantity such as 1Gi or 500m, got '" + text + "'");
  }
  return text;
}

// Resource names: "cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "example.com/gpu".
bool isResourceName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '/';
  });
}

std::map<std::string, std::string> readResourceList(const YAML::Node& node, const std::string& path) {
  requireMap(node, path);
  std::map<std::string, std::string> out;
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    const std::string field = join(path, name);
    if (!isResourceName(name)) {
      fail(field, "is not a resource name (cpu, memory, ephemeral-storage, example.com/gpu, ...)");
    }
    if (name == "cpu") {
      readCpuQuantity(entry.second, field);
      out[name] = readString(entry.second, field);
    } else if (name == "memory") {
      readMemoryQuantity(entry.second, field);
      out[name] = readString(entry.second, field);
    } else {
      out[name] = readQuantity(entry.second, field);
    }
  }
  return out;
}

// `memory` and `cpus` are shorthand for limits.memory and limits.cpu; a request
// above its limit is refused here rather than by the API server at Pod creation.
void parseResources(const YAML::Node& node, const std::string& path, ReplicaTemplate& templ) {
  requireMap(node, path);
  rejectUnknown(node, path, {"requests", "limits", "memory", "cpus"});
  ResourceRequirements& resources = templ.resources;
  if (node["requests"]) resources.requests = readResourceList(node["requests"], path + ".requests");
  if (node["limits"]) resources.limits = readResourceList(node["limits"], path + ".limits");
  const auto shorthand = [&](const char* field, const char* resource) {
    if (!node[field]) return;
    if (resources.limits.count(resource)) {
      fail(join(path, field),
           "conflicts with " + path + ".limits." + resource + " (" + field + " is its shorthand; set one)");
    }
    resources.limits[resource] = readString(node[field], join(path, field));
  };
  shorthand("memory", "memory");
  shorthand("cpus", "cpu");
  const std::string limitPath = path + (node["memory"] ? ".memory" : ".limits.memory");
  if (const auto limit = resources.limits.find("memory"); limit != resources.limits.end()) {
    templ.memoryBytes = readMemoryQuantity(YAML::Node(limit->second), limitPath);
  }
  const std::string cpuPath = path + (node["cpus"] ? ".cpus" : ".limits.cpu");
  if (const auto limit = resources.limits.find("cpu"); limit != resources.limits.end()) {
    templ.cpus = readCpuQuantity(YAML::Node(limit->second), cpuPath);
  }
  if (const auto request = resources.requests.find("memory"); request != resources.requests.end() && templ.memoryBytes) {
    if (readMemoryQuantity(YAML::Node(request->second), path + ".requests.memory") > *templ.memoryBytes) {
      fail(path + ".requests.memory", "must not exceed the memory limit (" + resources.limits["memory"] + "), got '" +
                                          request->second + "'");
    }
  }
  if (const auto request = resources.requests.find("cpu"); request != resources.requests.end() && templ.cpus) {
    if (readCpuQuantity(YAML::Node(request->second), path + ".requests.cpu") > *templ.cpus) {
      fail(path + ".requests.cpu",
           "must not exceed the cpu limit (" + resources.limits["cpu"] + "), got '" + request->second + "'");
    }
  }
}

ReplicaSecurityContext parseSecurityContext(const YAML::Node& node, const std::string& path) {
  requireMap(node, path);
  rejectUnknown(node, path, {"runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"});
  constexpr std::int64_t kMaxId = 2147483647;
  ReplicaSecurityContext context;
  if (node["runAsUser"]) {
    const std::string field = path + ".runAsUser";
    if (readInteger(node["runAsUser"], field) == 0) {
      fail(field, "must not be 0 (root): Pod Security restricted forbids it");
    }
    context.runAsUser = readIntegerInRange(node["runAsUser"], field, 1, kMaxId);
  }
  if (node["runAsGroup"]) context.runAsGroup = readIntegerInRange(node["runAsGroup"], path + ".runAsGroup", 0, kMaxId);
  if (node["fsGroup"]) context.fsGroup = readIntegerInRange(node["fsGroup"], path + ".fsGroup", 0, kMaxId);
  if (const YAML::Node groups = node["supplementalGroups"]) {
    requireList(groups, path + ".supplementalGroups", "group ids");
    for (std::size_t i = 0; i < groups.size(); ++i) {
      const std::string at = item(path + ".supplementalGroups", i);
      context.supplementalGroups.push_back(readIntegerInRange(groups[i], at, 0, kMaxId));
    }
  }
  return context;
}

nlohmann::json parseTolerations(const YAML::Node& node, const std::string& path) {
  requireList(node, path, "tolerations");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string at = item(path, i);
    const YAML::Node toleration = node[i];
    requireMap(toleration, at);
    rejectUnknown(toleration, at, {"key", "operator", "value", "effect", "tolerationSeconds"});
    const std::string key = toleration["key"] ? readString(toleration["key"], at + ".key") : std::string();
    const std::string op =
        toleration["operator"] ? readOneOf(toleration["operator"], at + ".operator", {"Equal", "Exists"}) : "Equal";
    const std::string value = toleration["value"] ? readString(toleration["value"], at + ".value") : std::string();
    const std::string effect =
        toleration["effect"]
            ? readOneOf(toleration["effect"], at + ".effect", {"", "NoSchedule", "PreferNoSchedule", "NoExecute"})
            : std::string();
    if (op == "Exists" && !value.empty()) fail(at + ".value", "must be empty when operator is Exists");
    if (key.empty() && op != "Exists") {
      fail(at + ".operator", "must be Exists when key is empty (it tolerates every taint)");
    }
    if (toleration["tolerationSeconds"]) {
      readInteger(toleration["tolerationSeconds"], at + ".tolerationSeconds");
      if (effect != "NoExecute") fail(at + ".tolerationSeconds", "is only allowed with effect NoExecute");
    }
  }
  return toJson(node);
}

nlohmann::json parseAffinity(const YAML::Node& node, const std::string& path) {
  requireMap(node, path);
  rejectUnknown(node, path, {"nodeAffinity", "podAffinity", "podAntiAffinity"});
  for (const auto& entry : node) requireMap(entry.second, join(path, entry.first.as<std::string>()));
  return toJson(node);
}

nlohmann::json parseTopologySpreadConstraints(const YAML::Node& node, const std::string& path) {
  requireList(node, path, "topology spread constraints");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string at = item(path, i);
    const YAML::Node constraint = node[i];
    requireMap(constraint, at);
    rejectUnknown(constraint, at,
                  {"maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector", "minDomains", "nodeAffinityPolicy",
                   "nodeTaintsPolicy", "matchLabelKeys"});
    if (!constraint["maxSkew"]) fail(at + ".maxSkew", "missing required field");
    readIntegerInRange(constraint["maxSkew"], at + ".maxSkew", 1, 2147483647);
    requiredString(constraint, at, "topologyKey");
    if (!constraint["whenUnsatisfiable"]) fail(at + ".whenUnsatisfiable", "missing required field");
    const std::string when =
        readOneOf(constraint["whenUnsatisfiable"], at + ".whenUnsatisfiable", {"DoNotSchedule", "ScheduleAnyway"});
    if (constraint["labelSelector"]) requireMap(constraint["labelSelector"], at + ".labelSelector");
    if (constraint["minDomains"]) {
      readIntegerInRange(constraint["minDomains"], at + ".minDomains", 1, 2147483647);
      if (when != "DoNotSchedule") fail(at + ".minDomains", "is only allowed with whenUnsatisfiable DoNotSchedule");
    }
    for (const char* policy : {"nodeAffinityPolicy", "nodeTaintsPolicy"}) {
      if (constraint[policy]) readOneOf(constraint[policy], join(at, policy), {"Honor", "Ignore"});
    }
    if (constraint["matchLabelKeys"]) readStringList(constraint["matchLabelKeys"], at + ".matchLabelKeys");
  }
  return toJson(node);
}

std::vector<std::string> parseImagePullSecrets(const YAML::Node& node, const std::string& path) {
  requireList(node, path, "{name: <secret>}");
  std::vector<std::string> names;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string at = item(path, i);
    requireMap(node[i], at);
    rejectUnknown(node[i], at, {"name"});
    const std::string name = requiredString(node[i], at, "name");
    if (!isDnsSubdomain(name)) fail(at + ".name", "must be a Secret name ([a-z0-9.-], at most 253), got '" + name + "'");
    names.push_back(name);
  }
  return names;
}

nlohmann::json parseVolumes(const YAML::Node& node, const std::string& path) {
  requireList(node, path, "volumes");
  std::set<std::string> names;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string at = item(path, i);
    const YAML::Node volume = node[i];
    requireMap(volume, at);
    const std::string name = requiredString(volume, at, "name");
    if (!isDnsLabel(name)) fail(at + ".name", "must be a DNS label ([a-z0-9-], at most 63), got '" + name + "'");
    if (!names.insert(name).second) fail(at + ".name", "duplicate volume '" + name + "'");
    std::vector<std::string> sources;
    for (const auto& entry : volume) {
      const std::string field = entry.first.as<std::string>();
      if (field == "name") continue;
      if (!entry.second.IsMap()) {
        fail(join(at, field), "must be a mapping (a volume source; {} for its defaults), got " + describe(entry.second));
      }
      sources.push_back(field);
    }
    if (sources.size() != 1) {
      fail(at, "needs exactly one volume source (emptyDir, configMap, secret, projected, ...), got " +
                   std::to_string(sources.size()));
    }
  }
  return toJson(node);
}

nlohmann::json parseVolumeMounts(const YAML::Node& node, const std::string& path, const nlohmann::json& volumes) {
  requireList(node, path, "volume mounts");
  std::set<std::string> paths;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string at = item(path, i);
    const YAML::Node mount = node[i];
    requireMap(mount, at);
    rejectUnknown(mount, at,
                  {"name", "mountPath", "readOnly", "subPath", "subPathExpr", "mountPropagation", "recursiveReadOnly"});
    const std::string name = requiredString(mount, at, "name");
    const bool known = name == kTmpVolumeName || std::any_of(volumes.begin(), volumes.end(), [&](const auto& volume) {
                         return volume.value("name", "") == name;
                       });
    if (!known) {
      fail(at + ".name", "names no volume in spec.template.volumes (nor the default " + std::string(kTmpVolumeName) +
                             "), got '" + name + "'");
    }
    const std::string mountPath = requiredString(mount, at, "mountPath");
    if (mountPath.front() != '/') fail(at + ".mountPath", "must be an absolute path, got '" + mountPath + "'");
    if (mountPath == kTmpMountPath) {
      fail(at + ".mountPath",
           "/tmp is the default writable emptyDir; to change it, name a volume " + std::string(kTmpVolumeName));
    }
    if (!paths.insert(mountPath).second) fail(at + ".mountPath", "duplicate mount path '" + mountPath + "'");
    if (mount["readOnly"]) readBool(mount["readOnly"], at + ".readOnly");
    if (mount["subPath"]) readString(mount["subPath"], at + ".subPath");
    if (mount["subPathExpr"]) readString(mount["subPathExpr"], at + ".subPathExpr");
    if (mount["mountPropagation"]) {
      readOneOf(mount["mountPropagation"], at + ".mountPropagation", {"None", "HostToContainer", "Bidirectional"});
    }
    if (mount["recursiveReadOnly"]) {
      readOneOf(mount["recursiveReadOnly"], at + ".recursiveReadOnly", {"Disabled", "IfPossible", "Enabled"});
    }
  }
  return toJson(node);
}

void parsePodSettings(const YAML::Node& node, const std::string& path, PodSettings& pod) {
  if (node["nodeSelector"]) {
    pod.nodeSelector = readStringMap(node["nodeSelector"], path + ".nodeSelector");
    for (const auto& [key, value] : pod.nodeSelector) {
      if (key.empty()) fail(path + ".nodeSelector", "has an empty label key");
    }
  }
  if (node["tolerations"]) pod.tolerations = parseTolerations(node["tolerations"], path + ".tolerations");
  if (node["affinity"]) pod.affinity = parseAffinity(node["affinity"], path + ".affinity");
  if (node["topologySpreadConstraints"]) {
    pod.topologySpreadConstraints =
        parseTopologySpreadConstraints(node["topologySpreadConstraints"], path + ".topologySpreadConstraints");
  }
  if (node["imagePullSecrets"]) {
    pod.imagePullSecrets = parseImagePullSecrets(node["imagePullSecrets"], path + ".imagePullSecrets");
  }
  if (node["serviceAccountName"]) {
    const std::string field = path + ".serviceAccountName";
    pod.serviceAccountName = readString(node["serviceAccountName"], field);
    if (!isDnsSubdomain(pod.serviceAccountName)) {
      fail(field, "must be a ServiceAccount name ([a-z0-9.-], at most 253), got '" + pod.serviceAccountName + "'");
    }
  }
  if (node["volumes"]) pod.volumes = parseVolumes(node["volumes"], path + ".volumes");
  if (node["volumeMounts"]) {
    pod.volumeMounts = parseVolumeMounts(node["volumeMounts"], path + ".volumeMounts", pod.volumes);
  }
}

ReplicaTemplate parseTemplate(const YAML::Node& node) {
  const std::string path = "spec.template";
  requireMap(node, path);
  rejectUnknown(node, path,
                {"image", "command", "args", "port", "env", "resources", "securityContext", "nodeSelector", "tolerations",
                 "affinity", "topologySpreadConstraints", "imagePullSecrets", "serviceAccountName", "volumes",
                 "volumeMounts"});
  ReplicaTemplate templ;
  if (node["image"]) templ.image = readString(node["image"], path + ".image");
  if (node["command"]) templ.command = readStringList(node["command"], path + ".command");
  if (node["args"]) templ.args = readStringList(node["args"], path + ".args");
  if (node["port"]) templ.port = static_cast<std::uint16_t>(readIntegerInRange(node["port"], path + ".port", 1, 65535));
  if (node["env"]) {
    const YAML::Node env = node["env"];
    if (!env.IsSequence()) fail(path + ".env", "must be a list of {name, value}, got " + describe(env));
    std::set<std::string> names;
    for (std::size_t i = 0; i < env.size(); ++i) {
      const std::string item = path + ".env[" + std::to_string(i) + "]";
      requireMap(env[i], item);
      rejectUnknown(env[i], item, {"name", "value"});
      if (!env[i]["name"]) fail(item + ".name", "missing required field");
      EnvVar var{readString(env[i]["name"], item + ".name"), ""};
      if (var.name.empty() || var.name.find('=') != std::string::npos) {
        fail(item + ".name", "must be a non-empty name without '='");
      }
      if (!names.insert(var.name).second) fail(item + ".name", "duplicate variable '" + var.name + "'");
      if (env[i]["value"]) var.value = readString(env[i]["value"], item + ".value");
      templ.env.push_back(std::move(var));
    }
  }
  if (node["resources"]) parseResources(node["resources"], path + ".resources", templ);
  if (node["securityContext"]) templ.securityContext = parseSecurityContext(node["securityContext"], path + ".securityContext");
  parsePodSettings(node, path, templ.pod);
  if (templ.command.empty() && templ.image.empty()) {
    fail(path, "needs a command (process runtime) or an image (docker, kubernetes)");
  }
  return templ;
}

Hashing parseHashing(const YAML::Node& node) {
  const std::string path = "spec.hashing";
  requireMap(node, path);
  rejectUnknown(node, path, {"algorithm", "key", "virtualNodes", "tableSize", "capacity", "loadFactor"});
  Hashing hashing;
  if (node["algorithm"]) {
    const std::string text = readString(node["algorithm"], path + ".algorithm");
    const auto algorithm = ring::parseAlgorithm(text);
    if (!algorithm) fail(path + ".algorithm", "must be one of ring, maglev, anchor, got '" + text + "'");
    hashing.algorithm = *algorithm;
  }
  if (const YAML::Node key = node["key"]) {
    requireMap(key, path + ".key");
    rejectUnknown(key, path + ".key", {"source", "name"});
    if (key["source"]) {
      const std::string text = readString(key["source"], path + ".key.source");
      const auto source = ring::parseKeySource(text);
      if (!source) {
        fail(path + ".key.source", "must be one of path, pathAndQuery, header, cookie, query, sourceIP, got '" + text + "'");
      }
      hashing.key.source = *source;
    }
    if (key["name"]) hashing.key.name = readString(key["name"], path + ".key.name");
  }
  if (node["virtualNodes"]) {
    hashing.virtualNodes = static_cast<std::uint32_t>(readIntegerInRange(node["virtualNodes"], path + ".virtualNodes", 1, 10000));
  }
  if (node["tableSize"]) {
    hashing.tableSize =
        static_cast<std::uint32_t>(readIntegerInRange(node["tableSize"], path + ".tableSize", 2, ring::kMaxMaglevTableSize));
  }
  if (node["capacity"]) {
    hashing.capacity =
        static_cast<std::uint32_t>(readIntegerInRange(node["capacity"], path + ".capacity", 1, ring::kMaxAnchorCapacity));
  }
  if (node["loadFactor"]) hashing.loadFactor = readNumber(node["loadFactor"], path + ".loadFactor");
  return hashing;
}

HealthCheck parseHealthCheck(const YAML::Node& node) {
  const std::string path = "spec.healthCheck";
  requireMap(node, path);
  rejectUnknown(node, path, {"path", "grpc", "intervalSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"});
  HealthCheck check;
  if (node["path"]) check.path = readString(node["path"], path + ".path");
  if (const YAML::Node grpc = node["grpc"]) {
    // `grpc: {}` (the server as a whole) arrives as a map; a bare `grpc:` as null.
    if (!grpc.IsNull()) requireMap(grpc, path + ".grpc");
    rejectUnknown(grpc, path + ".grpc", {"service"});
    check.grpc.emplace();
    if (grpc["service"]) check.grpc->service = readString(grpc["service"], path + ".grpc.service");
  }
  const auto seconds = [&](const char* field, std::uint32_t& out) {
    if (node[field]) out = static_cast<std::uint32_t>(readIntegerInRange(node[field], join(path, field), 1, 3600));
  };
  seconds("intervalSeconds", check.intervalSeconds);
  seconds("timeoutSeconds", check.timeoutSeconds);
  seconds("failureThreshold", check.failureThreshold);
  seconds("successThreshold", check.successThreshold);
  return check;
}

// policy/v1 IntOrString: a count ("1", 2) or a percentage ("25%", 0 to 100).
IntOrPercent readIntOrPercent(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail(path, "must be an integer or a percentage such as 25%, got " + describe(node));
  const std::string& text = node.Scalar();
  if (!text.empty() && text.back() == '%') {
    std::int32_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, value);
    if (ec != std::errc{} || end != text.data() + text.size() - 1 || text.size() < 2 || value < 0 || value > 100) {
      fail(path, "must be a percentage from 0% to 100%, got '" + text + "'");
    }
    return {value, true};
  }
  std::int32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
    fail(path, "must be an integer or a percentage such as 25%, got '" + text + "'");
  }
  if (value < 0) fail(path, "must be >= 0, got " + text);
  return {value, false};
}

DisruptionBudget parseDisruptionBudget(const YAML::Node& node) {
  const std::string path = "spec.podDisruptionBudget";
  requireMap(node, path);
  rejectUnknown(node, path, {"enabled", "maxUnavailable", "minAvailable"});
  DisruptionBudget budget;
  if (node["enabled"]) budget.enabled = readBool(node["enabled"], path + ".enabled");
  if (node["maxUnavailable"]) budget.maxUnavailable = readIntOrPercent(node["maxUnavailable"], path + ".maxUnavailable");
  if (node["minAvailable"]) budget.minAvailable = readIntOrPercent(node["minAvailable"], path + ".minAvailable");
  if (budget.maxUnavailable && budget.minAvailable) {
    fail(path, "set maxUnavailable or minAvailable, not both (as policy/v1 PodDisruptionBudget)");
  }
  return budget;
}

Rollout parseRollout(const YAML::Node& node) {
  const std::string path = "spec.rollout";
  requireMap(node, path);
  rejectUnknown(node, path, {"keyspacePerStep", "stepSeconds", "slowStartAfterSeconds"});
  Rollout rollout;
  if (node["keyspacePerStep"]) {
    rollout.keyspacePerStep = readNumber(node["keyspacePerStep"], path + ".keyspacePerStep");
    if (!(rollout.keyspacePerStep >= 0 && rollout.keyspacePerStep <= 1)) {
      fail(path + ".keyspacePerStep", "must be a fraction of the keyspace from 0 (off) to 1, got " + node["keyspacePerStep"].Scalar());
    }
    if (rollout.keyspacePerStep > 0 && rollout.keyspacePerStep < 0.001) {
      fail(path + ".keyspacePerStep", "must be at least 0.001 (a ramp moves in thousandths of a weight), got " +
                                          node["keyspacePerStep"].Scalar());
    }
  }
  if (node["stepSeconds"]) {
    rollout.stepSeconds = static_cast<std::uint32_t>(readIntegerInRange(node["stepSeconds"], path + ".stepSeconds", 1, 3600));
  }
  if (node["slowStartAfterSeconds"]) {
    rollout.slowStartAfterSeconds = static_cast<std::uint32_t>(
        readIntegerInRange(node["slowStartAfterSeconds"], path + ".slowStartAfterSeconds", 0, 86400));
  }
  return rollout;
}

HashRing parseDocument(const YAML::Node& document, const ParseOptions& options) {
  if (!document.IsMap()) fail("", "a HashRing document must be a mapping, got " + describe(document));
  rejectUnknown(document, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  if (!document["apiVersion"]) fail("apiVersion", "missing required field");
  const std::string apiVersion = readString(document["apiVersion"], "apiVersion");
  if (apiVersion != kHashRingApiVersion) {
    fail("apiVersion", "must be " + std::string(kHashRingApiVersion) + ", got '" + apiVersion + "'");
  }
  if (!document["kind"]) fail("kind", "missing required field");
  const std::string kind = readString(document["kind"], "kind");
  if (kind != kHashRingKind) fail("kind", "must be HashRing, got '" + kind + "'");

  HashRing ring;
  ring.metadata = parseMetadata(document["metadata"], options);

  const YAML::Node spec = document["spec"];
  if (!spec) fail("spec", "missing required field");
  requireMap(spec, "spec");
  rejectUnknown(spec, "spec", {"replicas", "template", "hashing", "weights", "healthCheck", "drainSeconds",
                               "podDisruptionBudget", "protocol", "rollout"});
  if (spec["replicas"]) {
    ring.spec.replicas = static_cast<std::int32_t>(readIntegerInRange(spec["replicas"], "spec.replicas", 0, kMaxReplicas));
  }
  if (!spec["template"]) fail("spec.template", "missing required field");
  ring.spec.templ = parseTemplate(spec["template"]);
  if (spec["hashing"]) ring.spec.hashing = parseHashing(spec["hashing"]);
  if (spec["protocol"]) {
    const std::string text = readString(spec["protocol"], "spec.protocol");
    const auto protocol = ring::parseUpstreamProtocol(text);
    if (!protocol) fail("spec.protocol", "must be one of http1, h2c, got '" + text + "'");
    ring.spec.protocol = *protocol;
  }
  if (const YAML::Node weights = spec["weights"]) {
    if (!weights.IsSequence()) fail("spec.weights", "must be a list of integers (slot i's weight), got " + describe(weights));
    if (weights.size() > static_cast<std::size_t>(kMaxReplicas)) {
      fail("spec.weights", "must have at most " + std::to_string(kMaxReplicas) + " entries");
    }
    for (std::size_t i = 0; i < weights.size(); ++i) {
      ring.spec.weights.push_back(static_cast<std::uint32_t>(
          readIntegerInRange(weights[i], "spec.weights[" + std::to_string(i) + "]", 1, ring::kMaxWeight)));
    }
  }
  if (spec["healthCheck"]) ring.spec.healthCheck = parseHealthCheck(spec["healthCheck"]);
  if (spec["drainSeconds"]) {
    ring.spec.drainSeconds = static_cast<std::uint32_t>(readIntegerInRange(spec["drainSeconds"], "spec.drainSeconds", 0, 3600));
  }
  if (spec["podDisruptionBudget"]) ring.spec.podDisruptionBudget = parseDisruptionBudget(spec["podDisruptionBudget"]);
  if (spec["rollout"]) ring.spec.rollout = parseRollout(spec["rollout"]);
  // status is operator-owned: accepted (so `kubectl get -o yaml` output loads) and ignored.
  if (auto status = validateHashRing(ring); !status) throw FieldError{"", status.error()};
  return ring;
}

std::string formatError(const std::string& origin, const FieldError& error) {
  return origin + ": " + (error.path.empty() ? error.reason : error.path + ": " + error.reason);
}

// Best effort: the ring a broken document meant, so its error attaches to it.
std::string peekKey(const YAML::Node& document) {
  try {
    if (!document.IsMap() || !document["metadata"] || !document["metadata"].IsMap()) return {};
    const YAML::Node name = document["metadata"]["name"];
    if (!name || !name.IsScalar() || !isDnsLabel(name.Scalar())) return {};
    std::string ns = "default";
    if (const YAML::Node n = document["metadata"]["namespace"]; n && n.IsScalar()) ns = n.Scalar();
    return ns + "/" + name.Scalar();
  } catch (const YAML::Exception&) {
    return {};
  }
}

// yaml-cpp 0.7's LoadAll loops forever, allocating a null document per turn, on a
// token no node can start with, such as a stray ',' after a node ("[a],",
// "- a\n,"): its parser then starts every further document at the same place
// (jbeder/yaml-cpp#1040, fixed upstream after 0.7 by #1319). This pass walks the
// documents without building them and throws where one starts where the last did.
class StalledDocumentCheck : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (started_ && mark.pos == last_.pos) throw YAML::ParserException(mark, "unexpected token (such as a stray ',')");
    started_ = true;
    last_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  bool started_ = false;
  YAML::Mark last_;
};

std::vector<YAML::Node> loadAllDocuments(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  StalledDocumentCheck check;
  while (parser.HandleNextDocument(check)) {
  }
  return YAML::LoadAll(text);
}

std::string yamlError(const std::string& origin, const YAML::Exception& e) {
  return origin + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
         std::to_string(e.mark.column + 1) + ": " + e.msg;
}

}  // namespace

Status validateHashRing(const HashRing& ring) {
  const HashRingSpec& spec = ring.spec;
  if (spec.replicas < 0) return Error{"spec.replicas: must be >= 0, got " + std::to_string(spec.replicas)};
  if (spec.replicas > kMaxReplicas) {
    return Error{"spec.replicas: must be <= " + std::to_string(kMaxReplicas) + ", got " + std::to_string(spec.replicas)};
  }
  if (spec.templ.command.empty() && spec.templ.image.empty()) {
    return Error{"spec.template: needs a command (process runtime) or an image (docker, kubernetes)"};
  }
  const Hashing& hashing = spec.hashing;
  if (hashing.algorithm == ring::Algorithm::Maglev) {
    if (!ring::isPrime(hashing.tableSize)) {
      return Error{"spec.hashing.tableSize: must be prime for maglev, got " + std::to_string(hashing.tableSize)};
    }
    if (hashing.tableSize < static_cast<std::uint32_t>(spec.replicas)) {
      return Error{"spec.hashing.tableSize: must be at least spec.replicas"};
    }
  }
  if (hashing.algorithm == ring::Algorithm::Anchor) {
    // Slots take buckets 0 … replicas−1 and extra weight the top ones; both must fit.
    std::uint64_t buckets = static_cast<std::uint64_t>(spec.replicas);
    for (std::size_t i = 0; i < spec.weights.size() && i < static_cast<std::size_t>(spec.replicas); ++i) {
      buckets += spec.weights[i] - 1;
    }
    if (buckets > hashing.capacity) {
      return Error{"spec.hashing.capacity: " + std::to_string(hashing.capacity) + " buckets cannot hold " +
                   std::to_string(spec.replicas) + " replicas with their weights (" + std::to_string(buckets) +
                   " needed)"};
    }
  }
  if (!(hashing.loadFactor == 0.0 || hashing.loadFactor >= 1.0)) {
    char number[32];
    std::snprintf(number, sizeof number, "%g", hashing.loadFactor);
    return Error{"spec.hashing.loadFactor: must be 0 (off) or >= 1.0, got " + std::string(number)};
  }
  const auto source = hashing.key.source;
  if ((source == ring::KeySource::Header || source == ring::KeySource::Cookie || source == ring::KeySource::Query) &&
      hashing.key.name.empty()) {
    return Error{"spec.hashing.key.name: is required when key.source is " + std::string(ring::toString(source))};
  }
  if (static_cast<std::uint64_t>(hashing.virtualNodes) * static_cast<std::uint64_t>(std::max(spec.replicas, 1)) >
      ring::kMaxRingPoints) {
    return Error{"spec.hashing.virtualNodes: virtualNodes x replicas exceeds " + std::to_string(ring::kMaxRingPoints) +
                 " ring points"};
  }
  const HealthCheck& check = spec.healthCheck;
  if (check.path.empty() || check.path.front() != '/') {
    return Error{"spec.healthCheck.path: must start with '/', got '" + check.path + "'"};
  }
  if (check.intervalSeconds < 1) return Error{"spec.healthCheck.intervalSeconds: must be >= 1"};
  if (check.timeoutSeconds < 1) return Error{"spec.healthCheck.timeoutSeconds: must be >= 1"};
  if (check.failureThreshold < 1) return Error{"spec.healthCheck.failureThreshold: must be >= 1"};
  if (check.successThreshold < 1) return Error{"spec.healthCheck.successThreshold: must be >= 1"};
  if (check.grpc) {
    if (spec.protocol != ring::UpstreamProtocol::H2c) {
      return Error{"spec.healthCheck.grpc: a gRPC health check needs spec.protocol h2c (gRPC runs over HTTP/2), got " +
                   std::string(ring::toString(spec.protocol))};
    }
    // The Kubernetes CRD defaults path to /healthz, so only another path is a contradiction.
    if (check.path != HealthCheck{}.path) {
      return Error{"spec.healthCheck.path: not used by a gRPC health check (grpc.service names what is checked), got '" +
                   check.path + "'"};
    }
    if (check.grpc->service.size() > kMaxGrpcServiceLength) {
      return Error{"spec.healthCheck.grpc.service: must be at most " + std::to_string(kMaxGrpcServiceLength) + " characters"};
    }
  }
  return ok();
}

ParsedResources parseHashRings(std::string_view text, const std::string& origin, const ParseOptions& options) {
  ParsedResources parsed;
  std::vector<YAML::Node> documents;
  try {
    documents = loadAllDocuments(std::string(text));
  } catch (const YAML::Exception& e) {
    parsed.errors.push_back({"", yamlError(origin, e)});
    return parsed;
  }
  std::size_t count = 0;
  for (const auto& document : documents) count += document.IsNull() ? 0 : 1;
  std::size_t index = 0;
  for (const auto& document : documents) {
    if (document.IsNull()) continue;
    ++index;
    const std::string where = count > 1 ? origin + " (document " + std::to_string(index) + ")" : origin;
    try {
      parsed.rings.push_back(parseDocument(document, options));
    } catch (const FieldError& error) {
      parsed.errors.push_back({peekKey(document), formatError(where, error)});
    } catch (const YAML::Exception& e) {
      parsed.errors.push_back({peekKey(document), yamlError(where, e)});
    }
  }
  return parsed;
}

Result<HashRing> parseHashRing(std::string_view text, const std::string& origin, const ParseOptions& options) {
  ParsedResources parsed = parseHashRings(text, origin, options);
  if (!parsed.errors.empty()) return Error{parsed.errors.front().message};
  if (parsed.rings.size() != 1) {
    return Error{origin + ": expected exactly one HashRing document, got " + std::to_string(parsed.rings.size())};
  }
  return std::move(parsed.rings.front());
}

}  // namespace ringlb::op
