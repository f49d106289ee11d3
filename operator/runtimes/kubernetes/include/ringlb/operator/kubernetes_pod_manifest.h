#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/runtime.h"

namespace ringlb::op {

/// Label keys on every replica Pod.
inline constexpr std::string_view kLabelName = "app.kubernetes.io/name";
inline constexpr std::string_view kLabelManagedBy = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kLabelRing = "ringlb.dev/ring";
inline constexpr std::string_view kLabelSlot = "ringlb.dev/slot";
inline constexpr std::string_view kLabelSpecHash = "ringlb.dev/spec-hash";
inline constexpr std::string_view kManagedByValue = "ringlb-operator";

/// What a replica Pod gets when its template does not say: requests without
/// limits (Burstable QoS: scheduled by what it needs, never throttled to it),
/// and the non-root user of distroless images.
inline constexpr std::string_view kDefaultCpuRequest = "50m";
inline constexpr std::string_view kDefaultMemoryRequest = "32Mi";
inline constexpr std::int64_t kDefaultRunAsUser = 65532;

/// The HashRing that owns a replica Pod.
struct PodOwner {
  std::string name;
  std::string uid;
  HealthCheck healthCheck;
  ring::UpstreamProtocol protocol = ring::UpstreamProtocol::Http1;  // spec.protocol: picks the readiness probe's kind
};

/// Labels of the Pod in `spec.slot`.
std::map<std::string, std::string> replicaPodLabels(const ReplicaSpec& spec);

/// The label selector that finds every replica Pod the operator manages.
std::string managedPodSelector();

/// The Pod for one slot, as sent by server-side apply: named after the slot,
/// in the ring's namespace, owned by the HashRing (controller, blocking owner
/// deletion), with the Restricted security context (the template's user and
/// groups), a readiness probe from the health check (httpGet; the kubelet's
/// grpc probe for healthCheck.grpc; tcpSocket for another h2c ring, whose
/// path only the operator's HTTP/2 heartbeat can GET), the template's port, env
/// (+ PORT and RINGLB_SLOT), resources (default requests for cpu and memory
/// when neither request nor limit is set), a writable emptyDir at /tmp, and
/// the template's Pod settings (nodeSelector, tolerations, affinity, topology
/// spread, imagePullSecrets, serviceAccountName, volumes and mounts). Pure.
nlohmann::json buildReplicaPod(const ReplicaSpec& spec, const PodOwner& owner);

/// What the runtime reads back from a Pod object.
struct PodView {
  std::string ring;
  std::string ringNamespace;
  std::string slot;
  std::string uid;
  std::string specHash;
  std::string address;  // podIP:containerPort ("[ip]:port" for IPv6); empty before an IP is assigned
  std::string phase;
  bool terminating = false;  // deletionTimestamp set
  bool ready = false;        // condition Ready=True and not terminating
  std::uint32_t restarts = 0;
  std::string reason;        // why it is not ready (waiting reason, last termination, phase)
};

/// Reads the fields above from a Pod object.
PodView viewPod(const nlohmann::json& pod);

}  // namespace ringlb::op
