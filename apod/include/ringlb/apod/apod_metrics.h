#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace ringlb::apod {

/// The backend's Prometheus metrics (names in deploy/METRICS.md), all labelled with the slot.
/// Thread-safe: counters and histograms are prometheus-cpp's, the label lookups are prepared
/// at construction for the status codes the server sends.
class ApodMetrics {
 public:
  explicit ApodMetrics(std::string slot);

  /// Counts one answered request with HTTP status `code` that took `seconds`.
  void observeRequest(unsigned code, double seconds);

  /// Counts one call to the upstream API; result is "ok", "http_error" or "failed".
  void observeUpstream(std::string_view result);

  /// Counts one lookup in the upstream response cache.
  void observeCacheLookup(bool hit);

  /// The Prometheus text exposition of every metric.
  [[nodiscard]] std::string serialize() const;

 private:
  prometheus::Counter& requestCounter(unsigned code);

  std::string slot_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& duration_;
  prometheus::Family<prometheus::Counter>& upstream_;
  prometheus::Family<prometheus::Counter>& cacheLookups_;
  prometheus::Counter& cacheHits_;
  prometheus::Counter& cacheMisses_;
  std::array<prometheus::Counter*, 600> byCode_{};
};

}  // namespace ringlb::apod
