#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/ring/ring_spec.h"

namespace ringlb::op {

/// The HashRing resource (ringlb.dev/v1alpha1), the same schema standalone
/// (a YAML file) and in Kubernetes (a custom resource). See DESIGN.md.
struct EnvVar {
  std::string name;
  std::string value;
  friend bool operator==(const EnvVar&, const EnvVar&) = default;
};

/// core/v1 ResourceRequirements: quantities as written ("256Mi", "500m"), by
/// resource name ("cpu", "memory", "ephemeral-storage", ...).
struct ResourceRequirements {
  std::map<std::string, std::string> requests;
  std::map<std::string, std::string> limits;
  friend bool operator==(const ResourceRequirements&, const ResourceRequirements&) = default;
};

/// The replica's identity, a subset of core/v1 PodSecurityContext that stays
/// within Pod Security "restricted": runAsNonRoot and seccomp RuntimeDefault
/// are not the user's to change. Unset fields keep the runtime's default.
struct ReplicaSecurityContext {
  std::optional<std::int64_t> runAsUser;  // never 0
  std::optional<std::int64_t> runAsGroup;
  std::optional<std::int64_t> fsGroup;
  std::vector<std::int64_t> supplementalGroups;
  friend bool operator==(const ReplicaSecurityContext&, const ReplicaSecurityContext&) = default;
};

/// Every replica Pod gets a writable emptyDir "tmp" at /tmp, since its root
/// filesystem is read-only; a template volume named "tmp" replaces it.
inline constexpr std::string_view kTmpVolumeName = "tmp";
inline constexpr std::string_view kTmpMountPath = "/tmp";

/// Where and with what a replica Pod runs: fields only the kubernetes runtime
/// applies (the others ignore them, with a warning). The core/v1 structures
/// are kept as written, checked by shape only: the API server validates them
/// in full when it admits the Pod.
struct PodSettings {
  std::map<std::string, std::string> nodeSelector;
  nlohmann::json tolerations = nlohmann::json::array();                // [core/v1 Toleration]
  nlohmann::json affinity = nlohmann::json::object();                  // core/v1 Affinity
  nlohmann::json topologySpreadConstraints = nlohmann::json::array();  // [core/v1 TopologySpreadConstraint]
  std::vector<std::string> imagePullSecrets;                           // Secret names
  std::string serviceAccountName;
  nlohmann::json volumes = nlohmann::json::array();       // [core/v1 Volume], beside the default "tmp"
  nlohmann::json volumeMounts = nlohmann::json::array();  // [core/v1 VolumeMount] of the replica container
  bool empty() const { return *this == PodSettings{}; }
  friend bool operator==(const PodSettings&, const PodSettings&) = default;
};

struct ReplicaTemplate {
  std::string image;                 // docker and kubernetes runtimes
  std::vector<std::string> command;  // process runtime; "$(PORT)" is expanded
  std::vector<std::string> args;
  std::uint16_t port = 8080;  // container port
  std::vector<EnvVar> env;
  ResourceRequirements resources;            // kubernetes; docker applies limits.memory and limits.cpu
  std::optional<std::uint64_t> memoryBytes;  // resources.limits.memory parsed, for docker
  std::optional<double> cpus;                // resources.limits.cpu parsed, for docker
  ReplicaSecurityContext securityContext;    // kubernetes; docker applies runAsUser and runAsGroup
  PodSettings pod;                           // kubernetes only
  friend bool operator==(const ReplicaTemplate&, const ReplicaTemplate&) = default;
};

struct Hashing {
  ring::Algorithm algorithm = ring::Algorithm::Ring;
  ring::KeySpec key;
  std::uint32_t virtualNodes = ring::kDefaultVirtualNodes;
  std::uint32_t tableSize = ring::kDefaultMaglevTableSize;
  std::uint32_t capacity = ring::kDefaultAnchorCapacity;  // anchor: buckets, at least the slots plus extra weight
  double loadFactor = 0.0;  // bounded loads off unless asked for
  friend bool operator==(const Hashing&, const Hashing&) = default;
};

/// spec.healthCheck.grpc: the replica is probed with the gRPC health protocol
/// (grpc.health.v1.Health/Check), as Kubernetes' `grpc:` probe does.
struct GrpcHealthCheck {
  std::string service;  // HealthCheckRequest.service; empty: the server as a whole
  friend bool operator==(const GrpcHealthCheck&, const GrpcHealthCheck&) = default;
};

/// How the operator probes each replica. The request's protocol follows the
/// ring's spec.protocol: HTTP/1.1 GET of `path`, or over h2c a GET of `path`
/// or, with `grpc`, a gRPC health check (h2c rings only; `path` unused).
struct HealthCheck {
  std::string path = "/healthz";
  std::optional<GrpcHealthCheck> grpc;
  std::uint32_t intervalSeconds = 1;
  std::uint32_t timeoutSeconds = 1;
  std::uint32_t failureThreshold = 3;
  std::uint32_t successThreshold = 1;
  friend bool operator==(const HealthCheck&, const HealthCheck&) = default;
};

/// A policy/v1 IntOrString budget value: a Pod count, or a percentage of the ring's replicas.
struct IntOrPercent {
  std::int32_t value = 0;
  bool percent = false;  // value is "<value>%"
  friend bool operator==(const IntOrPercent&, const IntOrPercent&) = default;
};

/// spec.podDisruptionBudget: how many replica Pods voluntary disruptions (a
/// drain's evictions) may take down at once. Kubernetes only. At most one of
/// maxUnavailable and minAvailable is set; neither means maxUnavailable 1, so
/// a drain moves one slot's keys at a time. Rings of fewer than 2 replicas get
/// no budget: over one Pod it would either block every drain or allow all.
struct DisruptionBudget {
  bool enabled = true;
  std::optional<IntOrPercent> maxUnavailable;
  std::optional<IntOrPercent> minAvailable;
  friend bool operator==(const DisruptionBudget&, const DisruptionBudget&) = default;
};

/// The budget a ring of `replicas` gets: maxUnavailable or minAvailable (one
/// set), or nullopt when it gets none (disabled, or fewer than 2 replicas). Pure.
std::optional<DisruptionBudget> effectiveDisruptionBudget(const DisruptionBudget& budget, std::int32_t replicas);

/// "1" or "25%", as the API writes an IntOrString.
std::string toString(const IntOrPercent& value);

/// spec.rollout: how fast keys move when members join, return or leave. Off
/// (keyspacePerStep 0) a member takes or gives up its whole share at once.
/// On, a member new to the ring, or back after an absence longer than
/// slowStartAfterSeconds, enters at weight 0 and ramps to its weight, and a
/// member scaled away ramps down to 0 before it drains, each step a published
/// ring version moving at most keyspacePerStep of the keyspace, one step every
/// stepSeconds. A replica replaced within the threshold keeps its slot's keys at once.
struct Rollout {
  double keyspacePerStep = 0;               // fraction of the keyspace per step, (0, 1]; 0: off
  std::uint32_t stepSeconds = 10;           // between steps
  std::uint32_t slowStartAfterSeconds = 60;  // a longer absence makes a returning member ramp
  bool paced() const { return keyspacePerStep > 0; }
  friend bool operator==(const Rollout&, const Rollout&) = default;
};

struct HashRingSpec {
  std::int32_t replicas = 1;
  ReplicaTemplate templ;
  Hashing hashing;
  ring::UpstreamProtocol protocol = ring::UpstreamProtocol::Http1;  // how proxies speak to the replicas
  std::vector<std::uint32_t> weights;  // weights[i] is slot i's weight; slots past the list weigh 1
  HealthCheck healthCheck;
  std::uint32_t drainSeconds = 5;  // scale-down and rollout: Draining in the ring this long before stop
  DisruptionBudget podDisruptionBudget;  // kubernetes only
  Rollout rollout;
  friend bool operator==(const HashRingSpec&, const HashRingSpec&) = default;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_ = "default";
  std::int64_t generation = 1;
  std::string uid;              // kubernetes only
  std::string resourceVersion;  // kubernetes only
  std::map<std::string, std::string> labels;
  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

/// Lifecycle state of one replica as the operator sees it.
enum class ReplicaState : std::uint8_t { Starting, Ready, NotReady, Draining, Stopped };

std::string_view toString(ReplicaState state) noexcept;

/// How a replica state is routed: only Ready gets traffic; Draining keeps
/// its points but takes no new keys; the rest are NotReady in the ring.
ring::MemberState toMemberState(ReplicaState state) noexcept;

struct MemberStatus {
  std::string id;  // slot id, "<ring>-<ordinal>"
  std::string address;
  ReplicaState state = ReplicaState::Starting;
  std::uint32_t restarts = 0;
  std::string lastFailure;
  // Its ramp in the ring in force (0–1000, 1000 at full weight), so that a
  // follower mirroring the ring from the status serves the leader's ring.
  std::uint32_t rampPermille = 1000;
  friend bool operator==(const MemberStatus&, const MemberStatus&) = default;
};

/// metav1.Condition.
struct Condition {
  std::string type;    // Ready, Progressing, Degraded
  std::string status;  // "True", "False", "Unknown"
  std::string reason;  // CamelCase, never empty
  std::string message;
  std::string lastTransitionTime;  // RFC 3339; changes only when status changes
  std::int64_t observedGeneration = 0;
  friend bool operator==(const Condition&, const Condition&) = default;
};

struct HashRingStatus {
  std::int64_t observedGeneration = 0;
  std::int32_t replicas = 0;
  std::int32_t readyReplicas = 0;
  std::string selector;
  std::uint64_t ringVersion = 0;
  std::vector<MemberStatus> members;  // sorted by ordinal
  std::vector<Condition> conditions;  // sorted by type
  friend bool operator==(const HashRingStatus&, const HashRingStatus&) = default;
};

struct HashRing {
  ObjectMeta metadata;
  HashRingSpec spec;
  HashRingStatus status;

  /// "namespace/name": the work-queue key.
  std::string key() const { return metadata.namespace_ + "/" + metadata.name; }
};

/// A ring's key, "namespace/name": how the operator names a ring everywhere
/// inside (work queue, registry, persistence, metrics). Two namespaces may
/// each hold a ring of the same name; they never share anything.
inline std::string ringKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }

/// The name part of a ring key ("namespace/name" → "name"; a bare name is returned as is).
inline std::string ringNameOf(const std::string& key) {
  const auto slash = key.find('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

/// The namespace part of a ring key ("namespace/name" → "namespace"; empty for a bare name).
inline std::string ringNamespaceOf(const std::string& key) {
  const auto slash = key.find('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash);
}

/// Slot id of ordinal `ordinal` in ring `ringName`: "<ring>-<ordinal>".
inline std::string slotId(const std::string& ringName, std::uint32_t ordinal) {
  return ringName + "-" + std::to_string(ordinal);
}

}  // namespace ringlb::op
