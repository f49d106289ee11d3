#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>

namespace ringlb::proxy {

class RingStore;
class HealthRegistry;
class TlsCertificateStore;

/// A counter written by one thread and read by the scraper: a relaxed load
/// and store, so the request path pays no locked instruction.
class LocalCounter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// Upstream failure reasons (the `reason` label).
enum class UpstreamError : std::uint8_t { Connect, Reset, Timeout, Protocol };
inline constexpr std::array<std::string_view, 4> kUpstreamErrorNames{"connect", "reset", "timeout", "protocol"};

/// Why a client connection was refused at accept (the `reason` label).
enum class RefusalReason : std::uint8_t { MaxConnections, FdLimit };
inline constexpr std::array<std::string_view, 2> kRefusalReasonNames{"max_connections", "fd_limit"};

/// How a TLS handshake ended (the `result` label).
enum class TlsHandshake : std::uint8_t { Full, Resumed, Failed };
inline constexpr std::array<std::string_view, 3> kTlsHandshakeNames{"full", "resumed", "failed"};

/// How a request reached the proxy (the `protocol` label).
enum class DownstreamProtocol : std::uint8_t { Http1, H2c };
inline constexpr std::array<std::string_view, 2> kProtocolNames{"http1", "h2c"};

/// The keys some worker spread lately, for /explain: each worker marks a hot
/// key it spreads (at most every 100 ms per slot) and the admin thread asks
/// whether a key was marked within the last second. A slot holds one key; two
/// hot keys sharing a slot take turns. Relaxed atomics: an answer may lag.
class HotKeyBoard {
 public:
  static constexpr std::int64_t kFreshNanos = 1'000'000'000;

  /// Records that a worker spread `hash` over `spread` members at `nowNanos`. Thread-safe.
  void mark(std::uint64_t hash, std::uint32_t spread, std::int64_t nowNanos) noexcept {
    Slot& slot = slots_[hash % slots_.size()];
    if (slot.hash.load(std::memory_order_relaxed) == hash &&
        nowNanos - slot.markedNanos.load(std::memory_order_relaxed) < kFreshNanos / 10) {
      return;
    }
    slot.hash.store(hash, std::memory_order_relaxed);
    slot.spread.store(spread, std::memory_order_relaxed);
    slot.markedNanos.store(nowNanos, std::memory_order_relaxed);
  }

  /// Members `hash` was spread over if some worker marked it within the last second, else 0. Thread-safe.
  std::uint32_t spreadOf(std::uint64_t hash, std::int64_t nowNanos) const noexcept {
    const Slot& slot = slots_[hash % slots_.size()];
    if (slot.hash.load(std::memory_order_relaxed) != hash) return 0;
    if (nowNanos - slot.markedNanos.load(std::memory_order_relaxed) >= kFreshNanos) return 0;
    return slot.spread.load(std::memory_order_relaxed);
  }

 private:
  struct Slot {
    std::atomic<std::uint64_t> hash{0};
    std::atomic<std::uint32_t> spread{0};
    std::atomic<std::int64_t> markedNanos{0};
  };
  std::array<Slot, 64> slots_{};
};

/// Request duration buckets, in seconds.
inline constexpr std::array<double, 15> kDurationBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                         0.25,   0.5,   1,      2.5,   5,     10,   30};

/// Per-member statistics of one worker thread; only that thread writes them.
struct MemberStats {
  explicit MemberStats(std::string memberId);

  void countResponse(unsigned status, std::int64_t durationNanos,
                     DownstreamProtocol protocol = DownstreamProtocol::Http1) noexcept;

  std::string id;
  std::array<std::array<LocalCounter, 5>, kProtocolNames.size()> responses;  // by protocol: 1xx … 5xx
  std::array<LocalCounter, kDurationBuckets.size() + 1> durationBuckets;  // last is +Inf
  LocalCounter durationSumNanos;
  std::array<LocalCounter, 4> upstreamErrors;
  LocalCounter retries;
  LocalCounter spills;
  // In flight = begun - ended; two counters so only the owning thread writes each.
  LocalCounter requestsBegun;
  LocalCounter requestsEnded;
  LocalCounter hotKeySpreads;  // requests sent here, past their hot key's owner

 private:
  std::array<std::int64_t, kDurationBuckets.size()> bucketNanos_{};
};

/// The proxy's metrics (deploy/METRICS.md), served by /metrics through
/// prometheus-cpp's serializer. Worker threads write their own MemberStats;
/// Collect() sums them per member at scrape time, so cardinality is bounded
/// by member ids × status classes.
class ProxyMetrics final : public prometheus::Collectable {
 public:
  ProxyMetrics(const RingStore& store, const HealthRegistry& health);

  /// Stats block for (`worker`, member `id`), created on first use; the
  /// address is stable for the process lifetime. Locks; call off the request
  /// path (when a worker adopts a ring). "none" is the local-reply member.
  MemberStats& memberStats(unsigned worker, std::string_view id);

  std::vector<prometheus::MetricFamily> Collect() const override;

  std::atomic<std::int64_t> activeConnections{0};
  std::atomic<std::int64_t> activeTunnels{0};
  std::atomic<std::int64_t> parkedConnections{0};  // of activeConnections, idle ones held as records
  std::atomic<std::int64_t> activeHttp2Connections{0};  // of activeConnections, those speaking HTTP/2  // connections switched to another protocol (WebSocket)
  /// Refusals at accept, by RefusalReason; written by every worker's acceptor.
  std::array<std::atomic<std::uint64_t>, kRefusalReasonNames.size()> refusedConnections{};
  /// Hot keys the workers spread lately (/explain).
  HotKeyBoard hotKeys;

  /// TLS handshakes on the TLS listener, by TlsHandshake; written by every worker.
  std::array<std::atomic<std::uint64_t>, kTlsHandshakeNames.size()> tlsHandshakes{};
  void countTlsHandshake(TlsHandshake result) noexcept {
    tlsHandshakes[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  }
  /// Reports the certificate reloads of `store` (null: no TLS listener). Before serving.
  void watchTls(const TlsCertificateStore* store) noexcept { tls_ = store; }

  /// Counts one refusal for `reason`. Thread-safe.
  void countRefusal(RefusalReason reason) noexcept {
    refusedConnections[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }

 private:
  const RingStore& store_;
  const HealthRegistry& health_;
  const TlsCertificateStore* tls_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<std::pair<unsigned, std::unique_ptr<MemberStats>>> stats_;
};

}  // namespace ringlb::proxy
