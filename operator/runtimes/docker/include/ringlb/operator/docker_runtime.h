#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ringlb/operator/docker_client.h"
#include "ringlb/operator/docker_event_watcher.h"
#include "ringlb/operator/docker_runtime_options.h"
#include "ringlb/operator/ignored_template_fields.h"
#include "ringlb/operator/runtime.h"

namespace ringlb::op {

/// Runs replicas as Docker containers through the Engine API (v1.41).
///
/// Containers are named "ringlb-<slot>" and labelled ringlb.dev/{ring, slot,
/// version, spec-hash, namespace, address}; dockerd never restarts them
/// (restart policy "no"): the operator decides. A container's die, oom and
/// destroy arrive from GET /events at once as RuntimeEvents; stops the
/// runtime makes itself are not reported.
///
/// Every Error message starts with a CamelCase reason and a colon, for the
/// operator's conditions: ImageNotFound, NameConflict, DaemonUnreachable,
/// ContainerStartFailed, InvalidSpec, DockerApiError.
///
/// Thread-safe. Calls for one slot are serialized; calls for different slots
/// run in parallel, each blocking for its Docker requests.
class DockerRuntime final : public Runtime {
 public:
  DockerRuntime(DockerClient client, DockerRuntimeOptions options);
  ~DockerRuntime() override;

  DockerRuntime(const DockerRuntime&) = delete;
  DockerRuntime& operator=(const DockerRuntime&) = delete;

  std::string_view name() const noexcept override { return "docker"; }
  Result<ReplicaInfo> ensureRunning(const ReplicaSpec& spec) override;
  /// Local containers have no disruption budget: a drain is a Kubernetes notion. Only
  /// warns, once, that spec.podDisruptionBudget is ignored.
  Status applyRingPolicy(const RingPolicy& policy) override {
    ignoredFields_.check(policy);
    return ok();
  }
  Status stop(const std::string& ring, const std::string& slot, std::chrono::seconds grace) override;
  Result<std::vector<ReplicaInfo>> list() override;
  /// Starts the /events watch; the handler runs on the watch thread. Calling
  /// it again replaces the handler; an empty handler detaches it, and once
  /// that call returns no handler call is running or will run (for owners
  /// that are destroyed before the runtime).
  void onEvent(EventHandler handler) override;
  /// Stops the /events watch; no handler call runs after it returns.
  void shutdown() override;

 private:
  struct Tracked {
    std::string ring;
    std::string containerId;
    std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  };

  std::mutex& slotMutex(const std::string& slot);
  Result<ReplicaInfo> createAndStart(const ReplicaSpec& spec);
  Status removeContainer(const std::string& id, std::chrono::seconds grace);
  std::uint16_t allocatePort();
  void releasePort(std::uint16_t port);
  void expectGone(const std::string& id);
  bool wasExpected(const std::string& id, bool forget);
  void track(const std::string& slot, Tracked tracked);
  void handleDockerEvent(const DockerEvent& event);
  void resync();
  void emit(const RuntimeEvent& event);
  Error unreachable(const Error& error) const;

  DockerClient client_;
  DockerRuntimeOptions options_;
  IgnoredFieldWarnings ignoredFields_{"docker", {.limits = true, .user = true}};

  std::mutex slotsMutex_;
  std::map<std::string, std::unique_ptr<std::mutex>> slotMutexes_;

  std::mutex stateMutex_;
  std::set<std::uint16_t> reservedPorts_;
  std::map<std::string, Tracked> tracked_;  // slot -> container we started or adopted
  std::map<std::string, std::chrono::steady_clock::time_point> expectedGone_;  // ids we stop ourselves
  std::set<std::string> oomKilled_;  // ids with an oom event not yet followed by die

  std::mutex handlerMutex_;
  EventHandler handler_;
  std::unique_ptr<DockerEventWatcher> watcher_;
};

/// Turns one row of GET /containers/json (or an inspect answer) into a
/// ReplicaInfo, reading ring, slot, spec hash and address from the labels.
ReplicaInfo dockerReplicaInfo(const nlohmann::json& container);

}  // namespace ringlb::op
