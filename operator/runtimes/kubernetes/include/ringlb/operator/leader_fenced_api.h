#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

#include "ringlb/operator/kubernetes_api.h"

namespace ringlb::op {

/// A KubernetesApi that sends writes (POST, PUT, PATCH, DELETE) only while
/// `mayWrite` says this replica leads, and refuses the rest with an
/// Unavailable Error before anything reaches the server; reads and watches
/// always pass. The reconciler's Pod, status and Event writes go through it,
/// so a replica whose leadership lapsed (its renew deadline passed, a renewal
/// still hanging) changes nothing while a standby may already lead. The
/// leader elector itself talks to the inner API. Thread-safe if `inner` and
/// `mayWrite` are.
class LeaderFencedApi final : public KubernetesApi {
 public:
  LeaderFencedApi(KubernetesApi& inner, std::function<bool()> mayWrite, std::function<void()> onRefused = {});

  Result<ApiResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                              std::string_view contentType = {}) override;
  Result<ApiResponse> requestWithin(std::chrono::milliseconds budget, std::string_view method,
                                    std::string_view target, std::string_view body = {},
                                    std::string_view contentType = {}) override;
  Result<ApiResponse> stream(std::string_view target, const DataHandler& onData, StreamCancel& cancel,
                             std::chrono::milliseconds idleTimeout) override;

  /// Writes refused so far. Thread-safe.
  std::uint64_t refused() const noexcept { return refused_.load(); }

 private:
  /// The Error for a write that must not go out, or nothing when it may.
  std::optional<Error> refuse(std::string_view method, std::string_view target);

  KubernetesApi& inner_;
  const std::function<bool()> mayWrite_;
  const std::function<void()> onRefused_;
  std::atomic<std::uint64_t> refused_{0};
};

}  // namespace ringlb::op
