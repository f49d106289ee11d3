#include "ringlb/apod/apod_metrics.h"

#include <prometheus/text_serializer.h>

namespace ringlb::apod {
namespace {

const prometheus::Histogram::BucketBoundaries kDurationBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                   0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                                                   5,      10};

}  // namespace

ApodMetrics::ApodMetrics(std::string slot)
    : slot_{std::move(slot)},
      registry_{std::make_shared<prometheus::Registry>()},
      requests_{prometheus::BuildCounter()
                    .Name("ringlb_apod_requests_total")
                    .Help("Requests answered, by HTTP status code")
                    .Register(*registry_)},
      duration_{prometheus::BuildHistogram()
                    .Name("ringlb_apod_request_duration_seconds")
                    .Help("Time from request received to response ready, including injected latency")
                    .Register(*registry_)
                    .Add({{"slot", slot_}}, kDurationBuckets)},
      upstream_{prometheus::BuildCounter()
                    .Name("ringlb_apod_upstream_requests_total")
                    .Help("Calls to the upstream APOD API, by result (ok, http_error, failed)")
                    .Register(*registry_)},
      cacheLookups_{prometheus::BuildCounter()
                        .Name("ringlb_apod_upstream_cache_lookups_total")
                        .Help("Lookups in the upstream response cache, by result (hit, miss)")
                        .Register(*registry_)},
      cacheHits_{cacheLookups_.Add({{"slot", slot_}, {"result", "hit"}})},
      cacheMisses_{cacheLookups_.Add({{"slot", slot_}, {"result", "miss"}})} {
  // Prepared so that the request path takes no family lock for the codes we send.
  for (const unsigned code : {200U, 400U, 404U, 405U, 413U, 431U, 500U, 502U, 503U}) {
    byCode_[code] = &requests_.Add({{"slot", slot_}, {"code", std::to_string(code)}});
  }
}

prometheus::Counter& ApodMetrics::requestCounter(unsigned code) {
  if (code < byCode_.size() && byCode_[code] != nullptr) return *byCode_[code];
  // Rare codes: Family::Add is idempotent and thread-safe (it locks).
  return requests_.Add({{"slot", slot_}, {"code", std::to_string(code)}});
}

void ApodMetrics::observeRequest(unsigned code, double seconds) {
  requestCounter(code).Increment();
  duration_.Observe(seconds);
}

void ApodMetrics::observeUpstream(std::string_view result) {
  upstream_.Add({{"slot", slot_}, {"result", std::string(result)}}).Increment();
}

void ApodMetrics::observeCacheLookup(bool hit) { (hit ? cacheHits_ : cacheMisses_).Increment(); }

std::string ApodMetrics::serialize() const {
  return prometheus::TextSerializer{}.Serialize(registry_->Collect());
}

}  // namespace ringlb::apod
