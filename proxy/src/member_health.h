#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace ringlb::proxy {

/// Outlier-detection policy (Envoy's consecutive-failure ejection).
struct EjectionPolicy {
  unsigned consecutiveFailures = 5;  // 0 disables ejection
  std::int64_t baseNanos = 5'000'000'000;
  std::int64_t maxNanos = 120'000'000'000;
};

/// Passive health of one member, shared by every worker thread. After N
/// consecutive failures (connect errors, resets, timeouts, 5xx) the member is
/// ejected locally for base·2^k (capped), k counting recent ejections. The
/// ring's state stays the authority: ejection only makes pickers walk past a
/// Ready member for a while. All methods are lock-free and thread-safe.
class MemberHealth {
 public:
  explicit MemberHealth(std::string id) : id_(std::move(id)) {}

  const std::string& id() const noexcept { return id_; }

  /// Whether the member is ejected at `nowNanos`.
  bool ejected(std::int64_t nowNanos) const noexcept {
    return ejectedUntil_.load(std::memory_order_relaxed) > nowNanos;
  }

  /// A successful exchange: resets the failure streak (no write when already 0).
  void recordSuccess(std::int64_t nowNanos, const EjectionPolicy& policy) noexcept {
    if (consecutive_.load(std::memory_order_relaxed) != 0) consecutive_.store(0, std::memory_order_relaxed);
    if (recentEjections_.load(std::memory_order_relaxed) != 0 &&
        nowNanos - ejectedUntil_.load(std::memory_order_relaxed) > policy.maxNanos) {
      recentEjections_.store(0, std::memory_order_relaxed);
    }
  }

  /// A failed exchange. Returns true when this failure ejected the member.
  bool recordFailure(std::int64_t nowNanos, const EjectionPolicy& policy) noexcept;

  /// Ends an ejection early (the operator re-announced the member Ready).
  void clearEjection() noexcept {
    ejectedUntil_.store(0, std::memory_order_relaxed);
    consecutive_.store(0, std::memory_order_relaxed);
  }

  std::uint64_t ejectionsTotal() const noexcept { return ejectionsTotal_.load(std::memory_order_relaxed); }

 private:
  std::string id_;
  std::atomic<std::uint32_t> consecutive_{0};
  std::atomic<std::uint32_t> recentEjections_{0};
  std::atomic<std::int64_t> ejectedUntil_{0};
  std::atomic<std::uint64_t> ejectionsTotal_{0};
};

/// Monotonic clock in nanoseconds (the steady clock).
inline std::int64_t monotonicNanos() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace ringlb::proxy
