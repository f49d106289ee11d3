#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace ringlb::op {

/// The operator's Prometheus metrics (names and labels: deploy/METRICS.md).
/// Thread-safe.
class OperatorMetrics {
 public:
  OperatorMetrics();

  void reconciled(const std::string& ring, bool success, double seconds);
  void setReplicas(const std::string& ring, int desired, int ready);
  void heartbeatFailed(const std::string& ring, const std::string& member);
  void restarted(const std::string& ring, const std::string& member);
  /// A new ring version: version, moved fraction and each member's share.
  void ringPublished(const std::string& ring, std::uint64_t version, double movedKeyspace,
                     const std::vector<std::pair<std::string, double>>& shares);
  /// A ring served again from the state dir at startup: version and shares,
  /// without counting a change.
  void ringLoaded(const std::string& ring, std::uint64_t version,
                  const std::vector<std::pair<std::string, double>>& shares);
  void resourceRejected(const std::string& ring);
  /// Drops the per-ring series of a deleted ring (counters stay).
  void forgetRing(const std::string& ring);

  /// The Prometheus text exposition of every metric.
  std::string serialize() const;

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Histogram>& reconcileDuration_;
  prometheus::Family<prometheus::Gauge>& desired_;
  prometheus::Family<prometheus::Gauge>& ready_;
  prometheus::Family<prometheus::Counter>& heartbeatFailures_;
  prometheus::Family<prometheus::Counter>& restarts_;
  prometheus::Family<prometheus::Gauge>& version_;
  prometheus::Family<prometheus::Gauge>& moved_;
  prometheus::Family<prometheus::Counter>& changes_;
  prometheus::Family<prometheus::Gauge>& share_;
  prometheus::Family<prometheus::Counter>& resourceErrors_;

  void setShares(const std::string& ring, const std::vector<std::pair<std::string, double>>& shares);

  std::mutex mutex_;
  std::map<std::string, std::set<std::string>> shareMembers_;  // ring → members with a share series
};

}  // namespace ringlb::op
