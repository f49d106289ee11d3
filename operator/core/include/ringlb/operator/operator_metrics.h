#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ringlb::op {

/// What the controller counts as it works, kept apart from how it is exposed
/// (the api layer's PrometheusOperatorMetrics serves it on /metrics). Every
/// method is thread-safe: the controller calls them from its workers, event
/// intake and probe results alike. `ring` is always the ring's key
/// ("namespace/name"); an exposition labels the two parts apart.
class OperatorMetrics {
 public:
  virtual ~OperatorMetrics() = default;

  /// One reconcile pass of `ring` ended, successfully or not, after `seconds`.
  virtual void reconciled(const std::string& ring, bool success, double seconds) = 0;

  /// The ring's desired replicas (spec.replicas) and how many are Ready.
  virtual void setReplicas(const std::string& ring, int desired, int ready) = 0;

  /// A heartbeat probe of `member` failed.
  virtual void heartbeatFailed(const std::string& ring, const std::string& member) = 0;

  /// The replica in `member`'s slot was replaced.
  virtual void restarted(const std::string& ring, const std::string& member) = 0;

  /// A new ring version: version, moved fraction of the keyspace and each
  /// member's share.
  virtual void ringPublished(const std::string& ring, std::uint64_t version, double movedKeyspace,
                             const std::vector<std::pair<std::string, double>>& shares) = 0;

  /// A HashRing resource was rejected as invalid (`ring` is "unknown" when
  /// even its name could not be read).
  virtual void resourceRejected(const std::string& ring) = 0;

  /// Drops the per-ring series of a deleted ring; counters stay.
  virtual void forgetRing(const std::string& ring) = 0;
};

}  // namespace ringlb::op
