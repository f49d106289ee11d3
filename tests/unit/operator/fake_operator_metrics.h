#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "ringlb/operator/operator_metrics.h"

namespace ringlb::op::testing {

/// OperatorMetrics that records each call as one line ("restarted apod apod-1"),
/// so a core test needs no Prometheus registry. Thread-safe.
class FakeOperatorMetrics final : public OperatorMetrics {
 public:
  void reconciled(const std::string& ring, bool success, double) override {
    record("reconciled " + ring + (success ? " success" : " error"));
  }
  void setReplicas(const std::string& ring, int desired, int ready) override {
    record("setReplicas " + ring + " " + std::to_string(desired) + " " + std::to_string(ready));
  }
  void heartbeatFailed(const std::string& ring, const std::string& member) override {
    record("heartbeatFailed " + ring + " " + member);
  }
  void restarted(const std::string& ring, const std::string& member) override {
    record("restarted " + ring + " " + member);
  }
  void ringPublished(const std::string& ring, std::uint64_t version, double,
                     const std::vector<std::pair<std::string, double>>&) override {
    record("ringPublished " + ring + " v" + std::to_string(version));
  }
  void resourceRejected(const std::string& ring) override { record("resourceRejected " + ring); }
  void forgetRing(const std::string& ring) override { record("forgetRing " + ring); }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  void record(std::string call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
  }

  mutable std::mutex mutex_;
  std::vector<std::string> calls_;
};

}  // namespace ringlb::op::testing
