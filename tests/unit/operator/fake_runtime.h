#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ringlb/operator/runtime.h"

namespace ringlb::op::testing {

/// An in-memory Runtime: replicas "run" until stop() or crash(); every call is recorded.
class FakeRuntime final : public Runtime {
 public:
  std::string_view name() const noexcept override { return "fake"; }

  Result<ReplicaInfo> ensureRunning(const ReplicaSpec& spec) override {
    std::lock_guard lock(mutex_);
    calls_.push_back("ensureRunning " + spec.slot);
    auto it = replicas_.find(spec.slot);
    if (it != replicas_.end() && it->second.running && it->second.specHash == spec.specHash) return it->second;
    if (!failWith_.empty()) return Error{failWith_};
    ReplicaInfo info;
    info.ring = spec.ring;
    info.slot = spec.slot;
    info.runtimeId = "fake-" + std::to_string(++spawned_);
    info.address = "127.0.0.1:" + std::to_string(30000 + spawned_);
    info.specHash = spec.specHash;
    info.running = true;
    replicas_[spec.slot] = info;
    return info;
  }

  Status stop(const std::string&, const std::string& slot, std::chrono::seconds) override {
    ReplicaInfo stopped;
    EventHandler handler;
    {
      std::lock_guard lock(mutex_);
      calls_.push_back("stop " + slot);
      auto it = replicas_.find(slot);
      if (it == replicas_.end()) return ok();
      stopped = it->second;
      replicas_.erase(it);
      handler = handler_;
    }
    if (stopped.running && handler) handler({RuntimeEvent::Kind::Exited, stopped.ring, slot, stopped.runtimeId, "stopped"});
    return ok();
  }

  Result<std::vector<ReplicaInfo>> list() override {
    std::lock_guard lock(mutex_);
    std::vector<ReplicaInfo> out;
    for (const auto& [slot, info] : replicas_) out.push_back(info);
    return out;
  }

  /// Recorded apart from calls(): replica calls are what most tests count.
  Status applyRingPolicy(const RingPolicy& policy) override {
    std::lock_guard lock(mutex_);
    policies_.push_back(policy);
    if (!failPolicyWith_.empty()) return Error::unavailable(failPolicyWith_);
    return ok();
  }

  void failRingPoliciesWith(std::string error) {
    std::lock_guard lock(mutex_);
    failPolicyWith_ = std::move(error);
  }

  std::vector<RingPolicy> policies() {
    std::lock_guard lock(mutex_);
    return policies_;
  }

  void onEvent(EventHandler handler) override {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }

  /// The replica in `slot` dies on its own.
  void crash(const std::string& slot, const std::string& reason = "killed by SIGKILL (exit code 137)") {
    ReplicaInfo info;
    EventHandler handler;
    {
      std::lock_guard lock(mutex_);
      auto& replica = replicas_.at(slot);
      replica.running = false;
      replica.reason = reason;
      info = replica;
      handler = handler_;
    }
    handler({RuntimeEvent::Kind::Exited, info.ring, slot, info.runtimeId, reason});
  }

  /// A replica that already runs (left by an earlier operator).
  void preload(ReplicaInfo info) {
    std::lock_guard lock(mutex_);
    replicas_[info.slot] = std::move(info);
  }

  void failStartsWith(std::string error) {
    std::lock_guard lock(mutex_);
    failWith_ = std::move(error);
  }

  std::vector<std::string> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

  std::map<std::string, ReplicaInfo> replicas() {
    std::lock_guard lock(mutex_);
    return replicas_;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, ReplicaInfo> replicas_;
  std::vector<std::string> calls_;
  std::vector<RingPolicy> policies_;
  std::string failPolicyWith_;
  EventHandler handler_;
  std::string failWith_;
  int spawned_ = 0;
};

}  // namespace ringlb::op::testing
