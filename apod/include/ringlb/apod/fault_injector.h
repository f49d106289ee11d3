#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ringlb::apod {

/// Injected faults, switched by the /admin endpoints when fault injection is enabled.
/// All methods are lock-free and safe from any thread.
class FaultInjector {
 public:
  /// Longest latency /admin/slow accepts (10 minutes).
  static constexpr std::uint32_t kMaxSlowMs = 600'000;

  /// Makes /healthz answer 503 (true) or 200 (false).
  void setFailing(bool failing) noexcept { failing_.store(failing, std::memory_order_relaxed); }
  [[nodiscard]] bool failing() const noexcept { return failing_.load(std::memory_order_relaxed); }

  /// Adds `ms` of latency to API responses; 0 clears. Requires ms <= kMaxSlowMs.
  void setSlowMs(std::uint32_t ms) noexcept { slowMs_.store(ms, std::memory_order_relaxed); }
  [[nodiscard]] std::chrono::milliseconds slowDelay() const noexcept {
    return std::chrono::milliseconds{slowMs_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<bool> failing_{false};
  std::atomic<std::uint32_t> slowMs_{0};
};

}  // namespace ringlb::apod
