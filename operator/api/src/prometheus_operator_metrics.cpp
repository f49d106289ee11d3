#include "ringlb/operator/prometheus_operator_metrics.h"

#include <sstream>

#include <prometheus/text_serializer.h>

namespace ringlb::op {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using Labels = std::map<std::string, std::string>;

namespace {

// A ring key "namespace/name" as labels {namespace, ring}; "unknown" (a resource whose name could not be read) stays a ring.
Labels ringLabels(const std::string& key, Labels extra = {}) {
  const auto slash = key.find('/');
  extra["ring"] = slash == std::string::npos ? key : key.substr(slash + 1);
  if (slash != std::string::npos) extra["namespace"] = key.substr(0, slash);
  return extra;
}

}  // namespace

PrometheusOperatorMetrics::PrometheusOperatorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      reconciles_(BuildCounter().Name("ringlb_operator_reconciles_total").Help("Reconcile passes").Register(*registry_)),
      reconcileDuration_(BuildHistogram()
                             .Name("ringlb_operator_reconcile_duration_seconds")
                             .Help("Duration of a reconcile pass")
                             .Register(*registry_)),
      desired_(BuildGauge().Name("ringlb_operator_desired_replicas").Help("spec.replicas").Register(*registry_)),
      ready_(BuildGauge().Name("ringlb_operator_ready_replicas").Help("Replicas Ready in the ring").Register(*registry_)),
      heartbeatFailures_(BuildCounter()
                             .Name("ringlb_operator_heartbeat_failures_total")
                             .Help("Failed heartbeat probes")
                             .Register(*registry_)),
      restarts_(BuildCounter()
                    .Name("ringlb_operator_restarts_total")
                    .Help("Replacements of a slot's replica")
                    .Register(*registry_)),
      version_(BuildGauge().Name("ringlb_operator_ring_version").Help("Published ring version").Register(*registry_)),
      moved_(BuildGauge()
                 .Name("ringlb_operator_ring_moved_keyspace_ratio")
                 .Help("Fraction of the hash space whose owner changed in the last published change")
                 .Register(*registry_)),
      changes_(BuildCounter()
                   .Name("ringlb_operator_ring_changes_total")
                   .Help("Published ring versions")
                   .Register(*registry_)),
      share_(BuildGauge()
                 .Name("ringlb_operator_member_keyspace_share")
                 .Help("Exact share of the hash space")
                 .Register(*registry_)),
      resourceErrors_(BuildCounter()
                          .Name("ringlb_operator_resource_errors_total")
                          .Help("Resources rejected as invalid")
                          .Register(*registry_)),
      leader_(BuildGauge()
                  .Name("ringlb_operator_leader")
                  .Help("1 while this replica leads and reconciles, else 0")
                  .Register(*registry_)
                  .Add({})),
      leaderTransitions_(BuildCounter()
                             .Name("ringlb_operator_leader_transitions_total")
                             .Help("Times this replica started or stopped leading")
                             .Register(*registry_)
                             .Add({})),
      refusedWrites_(BuildCounter()
                         .Name("ringlb_operator_leader_refused_writes_total")
                         .Help("API writes refused because this replica no longer held the leader Lease")
                         .Register(*registry_)
                         .Add({})),
      apiRequests_(BuildCounter()
                       .Name("ringlb_operator_kubernetes_api_requests_total")
                       .Help("Answers of the Kubernetes API server, by method and HTTP status code")
                       .Register(*registry_)),
      apiRetryAfter_(BuildCounter()
                         .Name("ringlb_operator_kubernetes_api_retry_after_total")
                         .Help("429 or 503 answers whose Retry-After the client waited out before resending")
                         .Register(*registry_)),
      apiThrottledSeconds_(BuildCounter()
                               .Name("ringlb_operator_kubernetes_api_rate_limit_wait_seconds_total")
                               .Help("Time requests waited for the client-side rate limit (--kube-api-qps, --kube-api-burst)")
                               .Register(*registry_)
                               .Add({})) {}

void PrometheusOperatorMetrics::kubernetesApiResponded(std::string_view method, int status) {
  apiRequests_.Add({{"method", std::string(method)}, {"code", std::to_string(status)}}).Increment();
}

void PrometheusOperatorMetrics::kubernetesApiRetryAfter(int status, double) {
  apiRetryAfter_.Add({{"code", std::to_string(status)}}).Increment();
}

void PrometheusOperatorMetrics::kubernetesApiThrottled(double seconds) { apiThrottledSeconds_.Increment(seconds); }

void PrometheusOperatorMetrics::setLeader(bool leading) {
  if ((leader_.Value() != 0) == leading) return;
  leader_.Set(leading ? 1 : 0);
  leaderTransitions_.Increment();
}

void PrometheusOperatorMetrics::leaderWriteRefused() { refusedWrites_.Increment(); }

void PrometheusOperatorMetrics::reconciled(const std::string& ring, bool success, double seconds) {
  reconciles_.Add(ringLabels(ring, {{"result", success ? "success" : "error"}})).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                    0.05,   0.1,   0.25,   0.5,   1,     2.5,
                                                                    5,      10,    30};
  reconcileDuration_.Add(ringLabels(ring), kBuckets).Observe(seconds);
}

void PrometheusOperatorMetrics::setReplicas(const std::string& ring, int desired, int ready) {
  desired_.Add(ringLabels(ring)).Set(desired);
  ready_.Add(ringLabels(ring)).Set(ready);
}

void PrometheusOperatorMetrics::heartbeatFailed(const std::string& ring, const std::string& member) {
  heartbeatFailures_.Add(ringLabels(ring, {{"member", member}})).Increment();
}

void PrometheusOperatorMetrics::restarted(const std::string& ring, const std::string& member) {
  restarts_.Add(ringLabels(ring, {{"member", member}})).Increment();
}

void PrometheusOperatorMetrics::ringPublished(const std::string& ring, std::uint64_t version, double movedKeyspace,
                                              const std::vector<std::pair<std::string, double>>& shares) {
  version_.Add(ringLabels(ring)).Set(static_cast<double>(version));
  moved_.Add(ringLabels(ring)).Set(movedKeyspace);
  changes_.Add(ringLabels(ring)).Increment();
  setShares(ring, shares);
}

void PrometheusOperatorMetrics::ringLoaded(const std::string& ring, std::uint64_t version,
                                           const std::vector<std::pair<std::string, double>>& shares) {
  version_.Add(ringLabels(ring)).Set(static_cast<double>(version));
  setShares(ring, shares);
}

void PrometheusOperatorMetrics::setShares(const std::string& ring,
                                          const std::vector<std::pair<std::string, double>>& shares) {
  std::lock_guard lock(mutex_);
  std::set<std::string>& known = shareMembers_[ring];
  std::set<std::string> current;
  for (const auto& [member, share] : shares) {
    share_.Add(ringLabels(ring, {{"member", member}})).Set(share);
    // Per-member counters exist at 0 from the member's first ring on, so
    // increase() sees the first restart or failed probe.
    restarts_.Add(ringLabels(ring, {{"member", member}}));
    heartbeatFailures_.Add(ringLabels(ring, {{"member", member}}));
    current.insert(member);
  }
  for (const auto& member : known) {
    if (!current.count(member)) share_.Remove(&share_.Add(ringLabels(ring, {{"member", member}})));
  }
  known = std::move(current);
}

void PrometheusOperatorMetrics::resourceRejected(const std::string& ring) {
  resourceErrors_.Add(ringLabels(ring)).Increment();
}

void PrometheusOperatorMetrics::forgetRing(const std::string& ring) {
  desired_.Remove(&desired_.Add(ringLabels(ring)));
  ready_.Remove(&ready_.Add(ringLabels(ring)));
  std::lock_guard lock(mutex_);
  for (const auto& member : shareMembers_[ring]) share_.Remove(&share_.Add(ringLabels(ring, {{"member", member}})));
  shareMembers_.erase(ring);
}

std::string PrometheusOperatorMetrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace ringlb::op
