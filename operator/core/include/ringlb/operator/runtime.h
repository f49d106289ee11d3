#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

/// What the operator asks a runtime to run in one slot.
struct ReplicaSpec {
  std::string ring;       // HashRing name
  std::string ringNamespace = "default";
  std::string slot;       // "<ring>-<ordinal>", stable across replacements
  std::uint32_t ordinal = 0;
  ReplicaTemplate templ;
  std::string specHash;   // hash of templ; a running replica with another hash is replaced
};

/// A replica the runtime reports as existing.
struct ReplicaInfo {
  std::string ring;
  std::string slot;
  std::string runtimeId;  // pid:starttime, container id, or pod uid
  std::string address;    // host:port the operator probes and proxies route to
  std::string specHash;
  bool running = false;
  std::string reason;     // why it is not running (exit code, OOMKilled, ...)
  std::string ringNamespace = {};  // the ring's namespace; empty for a runtime without namespaces
};

/// A lifecycle change observed by the runtime, reported as soon as it is seen.
struct RuntimeEvent {
  enum class Kind : std::uint8_t { Started, Exited, Deleted };
  Kind kind = Kind::Exited;
  std::string ring;
  std::string slot;
  std::string runtimeId;
  std::string reason;   // "exit code 137", "oom", "killed", ...
  std::string address = {};  // Started: where the replica now serves, when it became known only now (Kubernetes: Pod IP once Ready)
  std::string ringNamespace = {};  // the ring's namespace; empty for a runtime without namespaces
};

/// What a runtime keeps for a ring as a whole, beside its slots: today the
/// replicas' disruption budget (Kubernetes only).
struct RingPolicy {
  std::string ring;  // HashRing name
  std::string ringNamespace = "default";
  std::string ringUid;  // kubernetes: the owner of what the runtime creates
  std::optional<DisruptionBudget> disruptionBudget;  // effectiveDisruptionBudget(); nullopt: none wanted
  DisruptionBudget writtenBudget;                    // spec.podDisruptionBudget as written, for warnings
};

/// Starts, stops and lists replicas: local processes, Docker containers or
/// Kubernetes Pods. Implementations are thread-safe; calls may block for the
/// duration of one request to the underlying system.
class Runtime {
 public:
  using EventHandler = std::function<void(const RuntimeEvent&)>;

  virtual ~Runtime() = default;

  /// "process", "docker" or "kubernetes".
  virtual std::string_view name() const noexcept = 0;

  /// Makes sure `spec.slot` runs `spec`. Adopts a running replica with the same
  /// spec hash without restarting it; replaces one with another hash. Returns
  /// the replica, or an Error naming the cause (missing image, name conflict,
  /// daemon unreachable).
  virtual Result<ReplicaInfo> ensureRunning(const ReplicaSpec& spec) = 0;

  /// Stops and removes the replica in `slot` of `ring`, waiting up to `grace`
  /// before killing it. `ring` is the ring's key ("namespace/name") or a bare
  /// name; a runtime without namespaces uses only the name. Succeeds when
  /// nothing runs there.
  virtual Status stop(const std::string& ring, const std::string& slot, std::chrono::seconds grace) = 0;

  /// Every replica this runtime manages for any ring, running or not, so that
  /// a restarted operator adopts instead of restarting.
  virtual Result<std::vector<ReplicaInfo>> list() = 0;

  /// Registers the handler for lifecycle events, before any other call; the
  /// handler runs on a runtime-owned thread and must not block. An empty
  /// handler detaches: once onEvent({}) returns, no call to the old handler is
  /// still running or will start, so its owner may go away.
  virtual void onEvent(EventHandler handler) = 0;

  /// Makes the ring-level objects match `policy`: a Kubernetes runtime applies
  /// or deletes the ring's PodDisruptionBudget, writing only when it differs.
  /// Called by the controller on every reconcile of a ring that has a valid
  /// spec; a deleted ring's objects go with it (owner references). Returns an
  /// Error naming the cause (RBAC, invalid field). The default, for runtimes
  /// without such objects (process, docker), does nothing.
  virtual Status applyRingPolicy(const RingPolicy& /*policy*/) { return ok(); }

  /// Ends the runtime's own background work (event watches, exit monitors)
  /// ahead of its destruction, in the owner's shutdown order: once it returns,
  /// no event handler call is running or will start. Replicas keep running:
  /// stopping them is stop()'s job, so that --leave-running works and a next
  /// operator adopts them. Call it once nothing else calls the runtime; only
  /// the destructor may follow. Idempotent, and implementations do it in their
  /// destructors too. The default suits a runtime without background work.
  virtual void shutdown() {}
};

}  // namespace ringlb::op
