#include "proxy_metrics.h"

#include <map>

#include <prometheus/metric_family.h>

#include "health_registry.h"
#include "ring_store.h"
#include "tls_certificate_store.h"

namespace ringlb::proxy {

namespace {

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prometheus::ClientMetric counter(double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

prometheus::ClientMetric gauge(double value, std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

constexpr std::array<const char*, 5> kClasses{"1xx", "2xx", "3xx", "4xx", "5xx"};

struct Totals {
  std::array<std::array<std::uint64_t, 5>, kProtocolNames.size()> responses{};
  std::array<std::uint64_t, kDurationBuckets.size() + 1> buckets{};
  std::uint64_t sumNanos = 0;
  std::array<std::uint64_t, 4> errors{};
  std::uint64_t retries = 0;
  std::uint64_t spills = 0;
  std::int64_t inFlight = 0;
  std::uint64_t hotKeySpreads = 0;
};

}  // namespace

MemberStats::MemberStats(std::string memberId) : id(std::move(memberId)) {
  for (std::size_t i = 0; i < kDurationBuckets.size(); ++i) {
    bucketNanos_[i] = static_cast<std::int64_t>(kDurationBuckets[i] * 1e9);
  }
}

void MemberStats::countResponse(unsigned status, std::int64_t durationNanos, DownstreamProtocol protocol) noexcept {
  const unsigned cls = status / 100;
  if (cls >= 1 && cls <= 5) responses[static_cast<std::size_t>(protocol)][cls - 1].add();
  std::size_t bucket = 0;
  while (bucket < bucketNanos_.size() && durationNanos > bucketNanos_[bucket]) ++bucket;
  durationBuckets[bucket].add();
  durationSumNanos.add(static_cast<std::uint64_t>(durationNanos > 0 ? durationNanos : 0));
}

ProxyMetrics::ProxyMetrics(const RingStore& store, const HealthRegistry& health) : store_(store), health_(health) {}

MemberStats& ProxyMetrics::memberStats(unsigned worker, std::string_view id) {
  std::lock_guard lock(mutex_);
  for (auto& [w, stats] : stats_) {
    if (w == worker && stats->id == id) return *stats;
  }
  stats_.emplace_back(worker, std::make_unique<MemberStats>(std::string(id)));
  return *stats_.back().second;
}

std::vector<prometheus::MetricFamily> ProxyMetrics::Collect() const {
  std::map<std::string, Totals> totals;
  // Every member of the ring in force gets its series at 0 before its first
  // request: rate() and increase() cannot see what a series is born with.
  const auto table = store_.current();
  if (table) {
    for (const auto& member : table->ring->members()) totals[member.id];
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [worker, stats] : stats_) {
      auto& t = totals[stats->id];
      for (std::size_t p = 0; p < kProtocolNames.size(); ++p) {
        for (std::size_t i = 0; i < 5; ++i) t.responses[p][i] += stats->responses[p][i].get();
      }
      for (std::size_t i = 0; i < t.buckets.size(); ++i) t.buckets[i] += stats->durationBuckets[i].get();
      t.sumNanos += stats->durationSumNanos.get();
      for (std::size_t i = 0; i < 4; ++i) t.errors[i] += stats->upstreamErrors[i].get();
      t.retries += stats->retries.get();
      t.spills += stats->spills.get();
      // Ended first: a request that ends between the two loads then counts as still in flight, never below 0.
      const std::uint64_t ended = stats->requestsEnded.get();
      t.inFlight += static_cast<std::int64_t>(stats->requestsBegun.get() - ended);
      t.hotKeySpreads += stats->hotKeySpreads.get();
    }
  }
  using prometheus::MetricType;
  auto requests = family("ringlb_proxy_requests_total", "Requests answered, by member and status class", MetricType::Counter);
  auto duration = family("ringlb_proxy_request_duration_seconds", "Time from request head received to response complete",
                         MetricType::Histogram);
  auto errors = family("ringlb_proxy_upstream_errors_total", "Failed upstream attempts", MetricType::Counter);
  auto retries = family("ringlb_proxy_retries_total", "Retries on a successor, by the member retried to", MetricType::Counter);
  auto spills = family("ringlb_proxy_bounded_load_spills_total", "Picks that spilled past an over-capacity owner",
                       MetricType::Counter);
  auto inFlight = family("ringlb_proxy_member_in_flight", "Requests in flight to a member (all worker threads)",
                         MetricType::Gauge);
  auto spreads = family("ringlb_proxy_hot_key_spread_requests_total",
                        "Requests sent to a member past their key's owner because the key was hot, by that member",
                        MetricType::Counter);
  for (const auto& [id, t] : totals) {
    spreads.metric.push_back(counter(static_cast<double>(t.hotKeySpreads), {{"member", id}}));
    for (std::size_t p = 0; p < kProtocolNames.size(); ++p) {
      for (std::size_t i = 0; i < 5; ++i) {
        requests.metric.push_back(counter(static_cast<double>(t.responses[p][i]),
                                          {{"member", id}, {"code_class", kClasses[i]}, {"protocol", std::string(kProtocolNames[p])}}));
      }
    }
    std::uint64_t count = 0;
    for (auto b : t.buckets) count += b;
    {
      prometheus::ClientMetric h;
      h.label = {{"member", id}};
      h.histogram.sample_count = count;
      h.histogram.sample_sum = static_cast<double>(t.sumNanos) / 1e9;
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < t.buckets.size(); ++i) {
        cumulative += t.buckets[i];
        prometheus::ClientMetric::Bucket bucket;
        bucket.cumulative_count = cumulative;
        bucket.upper_bound = i < kDurationBuckets.size() ? kDurationBuckets[i] : std::numeric_limits<double>::infinity();
        h.histogram.bucket.push_back(bucket);
      }
      duration.metric.push_back(std::move(h));
    }
    if (id == "none") continue;
    for (std::size_t i = 0; i < 4; ++i) {
      errors.metric.push_back(counter(static_cast<double>(t.errors[i]), {{"member", id}, {"reason", std::string(kUpstreamErrorNames[i])}}));
    }
    retries.metric.push_back(counter(static_cast<double>(t.retries), {{"member", id}}));
    spills.metric.push_back(counter(static_cast<double>(t.spills), {{"member", id}}));
    inFlight.metric.push_back(gauge(static_cast<double>(t.inFlight), {{"member", id}}));
  }

  const auto now = monotonicNanos();
  auto ejections = family("ringlb_proxy_ejections_total", "Passive-health ejections", MetricType::Counter);
  auto ejected = family("ringlb_proxy_member_ejected", "1 while a member is ejected by passive health", MetricType::Gauge);
  for (const auto& health : health_.all()) {
    ejections.metric.push_back(counter(static_cast<double>(health->ejectionsTotal()), {{"member", health->id()}}));
    ejected.metric.push_back(gauge(health->ejected(now) ? 1 : 0, {{"member", health->id()}}));
  }

  auto ready = family("ringlb_proxy_member_ready", "1 when the ring says the member is Ready", MetricType::Gauge);
  auto share = family("ringlb_proxy_member_keyspace_share", "Exact share of the hash space", MetricType::Gauge);
  auto version = family("ringlb_proxy_ring_version", "Version of the ring in force", MetricType::Gauge);
  auto info = family("ringlb_proxy_ring_info", "Always 1; names the ring in force", MetricType::Gauge);
  if (table) {
    const auto& members = table->ring->members();
    for (std::size_t i = 0; i < members.size(); ++i) {
      ready.metric.push_back(gauge(table->ring->isReady(static_cast<std::uint32_t>(i)) ? 1 : 0, {{"member", members[i].id}}));
      share.metric.push_back(gauge(table->ring->shares()[i], {{"member", members[i].id}}));
    }
    version.metric.push_back(gauge(static_cast<double>(table->ring->version())));
    info.metric.push_back(gauge(1, {{"ring", table->ring->spec().name}}));
  }
  auto active = family("ringlb_proxy_active_connections", "Open downstream connections", MetricType::Gauge);
  const auto http2 = activeHttp2Connections.load(std::memory_order_relaxed);
  active.metric.push_back(
      gauge(static_cast<double>(activeConnections.load(std::memory_order_relaxed) - http2), {{"protocol", "http1"}}));
  active.metric.push_back(gauge(static_cast<double>(http2), {{"protocol", "h2c"}}));
  auto parked = family("ringlb_proxy_parked_connections",
                       "Idle keep-alive downstream connections held as compact records (counted in active_connections too)",
                       MetricType::Gauge);
  parked.metric.push_back(gauge(static_cast<double>(parkedConnections.load(std::memory_order_relaxed))));
  auto tunnels = family("ringlb_proxy_active_tunnels", "Downstream connections switched to another protocol (WebSocket)",
                        MetricType::Gauge);
  tunnels.metric.push_back(gauge(static_cast<double>(activeTunnels.load(std::memory_order_relaxed))));
  auto rejected = family("ringlb_proxy_rejected_connections_total",
                         "Client connections refused at accept: at --max-connections, or out of file descriptors",
                         MetricType::Counter);
  for (std::size_t i = 0; i < kRefusalReasonNames.size(); ++i) {
    rejected.metric.push_back(counter(static_cast<double>(refusedConnections[i].load(std::memory_order_relaxed)),
                                      {{"reason", std::string(kRefusalReasonNames[i])}}));
  }
  auto staleness = family("ringlb_proxy_ring_staleness_seconds",
                          "Seconds since the ring source last confirmed the ring (0 for static rings)", MetricType::Gauge);
  const double stale = store_.stalenessSeconds(now);
  if (stale >= 0) staleness.metric.push_back(gauge(stale));
  auto updates = family("ringlb_proxy_ring_updates_total", "Ring updates received", MetricType::Counter);
  updates.metric.push_back(counter(static_cast<double>(store_.applied()), {{"result", "applied"}}));
  updates.metric.push_back(counter(static_cast<double>(store_.rejected()), {{"result", "rejected"}}));

  std::vector<prometheus::MetricFamily> tlsFamilies;
  if (tls_ != nullptr) {
    auto handshakes = family("ringlb_proxy_tls_handshakes_total",
                             "TLS handshakes on the TLS listener: full, resumed (ticket or session cache) or failed",
                             MetricType::Counter);
    for (std::size_t i = 0; i < kTlsHandshakeNames.size(); ++i) {
      handshakes.metric.push_back(counter(static_cast<double>(tlsHandshakes[i].load(std::memory_order_relaxed)),
                                          {{"result", std::string(kTlsHandshakeNames[i])}}));
    }
    auto reloads = family("ringlb_proxy_tls_certificate_reloads_total",
                          "Loads of the TLS certificate files: applied, or rejected (the previous certificates stay in force)",
                          MetricType::Counter);
    reloads.metric.push_back(counter(static_cast<double>(tls_->applied()), {{"result", "applied"}}));
    reloads.metric.push_back(counter(static_cast<double>(tls_->rejected()), {{"result", "rejected"}}));
    tlsFamilies.push_back(std::move(handshakes));
    tlsFamilies.push_back(std::move(reloads));
  }

  std::vector<prometheus::MetricFamily> families{std::move(requests), std::move(duration), std::move(errors),   std::move(retries), std::move(spills), std::move(inFlight),
          std::move(spreads),  std::move(ejections), std::move(ejected), std::move(ready),     std::move(share),   std::move(version), std::move(info),
          std::move(active),   std::move(parked), std::move(tunnels),  std::move(rejected), std::move(staleness), std::move(updates)};
  for (auto& tlsFamily : tlsFamilies) families.push_back(std::move(tlsFamily));
  return families;
}

}  // namespace ringlb::proxy
