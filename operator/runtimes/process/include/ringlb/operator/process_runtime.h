#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ringlb/operator/ignored_template_fields.h"
#include "ringlb/operator/runtime.h"

namespace ringlb::op {

struct ProcessRuntimeOptions {
  std::filesystem::path stateDir;  // replicas/<slot>.json and logs/<slot>.log live here
  std::string host = "127.0.0.1";  // replicas listen here; ports are chosen free on it
  std::chrono::milliseconds procPollInterval{100};  // exit detection where pidfd_open is unavailable
  std::uintmax_t maxLogBytes = 16u << 20;           // a slot's log is rotated to .log.1 past this at start
};

/// Runs replicas as local processes: template.command + args with "$(PORT)"
/// expanded to a free port on 127.0.0.1, PORT, RINGLB_SLOT and RINGLB_RING in
/// the environment (plus template env), in their own session (setsid) so they
/// outlive an operator crash, output appended to <stateDir>/logs/<slot>.log.
/// Each slot's pid, process start time (/proc/<pid>/stat field 22) and spec
/// hash are kept in <stateDir>/replicas/<slot>.json, so a restarted operator
/// adopts a live replica (pid alive and start time equal) instead of starting
/// another. Exits are reported at once: a pidfd per replica (Linux ≥ 5.3) is
/// watched with epoll; children are reaped for their exit status.
class ProcessRuntime final : public Runtime {
 public:
  explicit ProcessRuntime(ProcessRuntimeOptions options);
  /// Stops watching; the replicas keep running.
  ~ProcessRuntime() override;

  std::string_view name() const noexcept override { return "process"; }
  Result<ReplicaInfo> ensureRunning(const ReplicaSpec& spec) override;
  /// Local processes have no disruption budget: a drain is a Kubernetes notion. Only
  /// warns, once, that spec.podDisruptionBudget is ignored.
  Status applyRingPolicy(const RingPolicy& policy) override {
    ignoredFields_.check(policy);
    return ok();
  }
  Status stop(const std::string& ring, const std::string& slot, std::chrono::seconds grace) override;
  Result<std::vector<ReplicaInfo>> list() override;
  void onEvent(EventHandler handler) override;
  /// Stops the exit monitor (no event after it returns); the replicas keep
  /// running and are no longer reaped.
  void shutdown() override;

  /// Messages about state files that could not be read at startup (skipped).
  const std::vector<std::string>& loadErrors() const { return loadErrors_; }

 private:
  struct Replica {
    std::string ring;
    std::string ringNamespace;
    std::string slot;
    pid_t pid = 0;
    std::uint64_t startTime = 0;
    std::string specHash;
    std::uint16_t port = 0;
    int pidfd = -1;        // owned by the monitor thread once registered
    bool exited = false;
    bool stopping = false;  // an exit we asked for
    std::string reason;
  };

  void loadState();
  Status writeState(const Replica& replica) const;
  void removeState(const std::string& slot) const;
  ReplicaInfo infoOf(const Replica& replica) const;
  Result<Replica> spawn(const ReplicaSpec& spec, std::uint16_t preferredPort);
  void watch(Replica& replica);  // caller holds mutex_
  bool waitExited(const std::string& slot, pid_t pid, std::chrono::steady_clock::time_point deadline);
  void monitor();
  void handleExit(int pidfd, pid_t pid);  // monitor thread

  ProcessRuntimeOptions options_;
  std::filesystem::path replicaDir_;
  std::filesystem::path logDir_;
  std::vector<std::string> loadErrors_;
  IgnoredFieldWarnings ignoredFields_{"process", {}};  // resources, securityContext, Pod settings

  std::mutex mutex_;
  std::condition_variable exited_;
  std::map<std::string, Replica> replicas_;  // by slot
  std::map<std::string, std::uint16_t> lastPorts_;  // a replacement reuses its slot's port when free

  std::mutex handlerMutex_;  // held while handler_ runs, so detaching waits out a call in flight
  EventHandler handler_;

  int epollFd_ = -1;
  int wakeFd_ = -1;
  bool stopping_ = false;
  std::thread monitor_;
};

/// Start time of `pid` in clock ticks since boot (/proc/<pid>/stat field 22),
/// or nullopt when it is gone or a zombie.
std::optional<std::uint64_t> processStartTime(pid_t pid);

}  // namespace ringlb::op
