#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "ringlb/operator/operator_metrics.h"

namespace ringlb::op {

/// The operator's metrics as Prometheus series (names and labels:
/// deploy/METRICS.md), served as text on /metrics. Thread-safe.
class PrometheusOperatorMetrics final : public OperatorMetrics {
 public:
  PrometheusOperatorMetrics();

  void reconciled(const std::string& ring, bool success, double seconds) override;
  void setReplicas(const std::string& ring, int desired, int ready) override;
  void heartbeatFailed(const std::string& ring, const std::string& member) override;
  void restarted(const std::string& ring, const std::string& member) override;
  void ringPublished(const std::string& ring, std::uint64_t version, double movedKeyspace,
                     const std::vector<std::pair<std::string, double>>& shares) override;
  void resourceRejected(const std::string& ring) override;
  void forgetRing(const std::string& ring) override;

  /// A ring served again from the state dir at startup: version and shares,
  /// without counting a change.
  void ringLoaded(const std::string& ring, std::uint64_t version,
                  const std::vector<std::pair<std::string, double>>& shares);

  /// Whether this replica leads (reconciles): ringlb_operator_leader 1 or 0.
  void setLeader(bool leading);

  /// A write refused because this replica no longer held the leader Lease.
  void leaderWriteRefused();

  /// One answer of the Kubernetes API server: the method (WATCH for a watch)
  /// and the HTTP status. Thread-safe, like the rest.
  void kubernetesApiResponded(std::string_view method, int status);

  /// A 429 (or 503) whose Retry-After the client waits out before resending.
  void kubernetesApiRetryAfter(int status, double seconds);

  /// A request that waited `seconds` for the client-side rate limit.
  void kubernetesApiThrottled(double seconds);

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
  prometheus::Gauge& leader_;
  prometheus::Counter& leaderTransitions_;
  prometheus::Counter& refusedWrites_;
  prometheus::Family<prometheus::Counter>& apiRequests_;
  prometheus::Family<prometheus::Counter>& apiRetryAfter_;
  prometheus::Counter& apiThrottledSeconds_;

  void setShares(const std::string& ring, const std::vector<std::pair<std::string, double>>& shares);

  std::mutex mutex_;
  std::map<std::string, std::set<std::string>> shareMembers_;  // ring → members with a share series
};

}  // namespace ringlb::op
