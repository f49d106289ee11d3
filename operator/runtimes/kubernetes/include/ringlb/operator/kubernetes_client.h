#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ringlb/operator/clock.h"
#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/operator/kubernetes_config.h"

namespace ringlb::op {

/// KubernetesApi over Beast: HTTPS (OpenSSL, server verified against the
/// configured CA, optional client certificate) or plain HTTP. Keeps a few
/// idle keep-alive connections; every request runs on its caller's thread with
/// its own timeouts, so callers never share an event loop.
///
/// As client-go does: requests share a token bucket (QPS and burst; a watch
/// takes a token per (re)connect, not per event); a 429, or a 503 with
/// Retry-After, is retried after the wait the server asked for (capped);
/// bearer tokens from a file are re-read at least once a minute and after any
/// 401; an exec credential plugin's answer is cached until it expires or a 401;
/// a CA file that changes (a rotated CA) is re-read for new connections.
class KubernetesClient final : public KubernetesApi {
 public:
  struct Options {
    std::chrono::milliseconds connectTimeout{10'000};
    std::chrono::milliseconds requestTimeout{30'000};
    std::chrono::seconds tokenRefresh{60};
    std::size_t maxIdleConnections = 4;
    std::chrono::seconds maxIdleAge{60};  // an idle connection older than this is dropped, not reused
    std::string userAgent = "ringlb-operator/0.1.0";

    double qps = 20.0;  // sustained requests per second (controller-runtime's default); <= 0 turns the limit off
    int burst = 30;     // requests allowed at once above the sustained rate
    std::chrono::seconds maxRetryAfter{10};  // a longer Retry-After is cut to this
    int maxRetryAfterRetries = 10;           // then the 429/503 answer is returned
    std::chrono::milliseconds execTimeout{60'000};  // an exec credential plugin that takes longer is killed

    /// Called after every answer (method, HTTP status), on the requesting thread.
    std::function<void(std::string_view method, int status)> onResponse;
    /// Called before waiting out a Retry-After (the status, the wait).
    std::function<void(int status, std::chrono::milliseconds wait)> onRetryAfter;
    /// Called when a request waited for the rate limiter (the wait).
    std::function<void(std::chrono::milliseconds wait)> onThrottled;
  };

  /// Builds the client; returns an Error naming the unreadable file or bad PEM
  /// (CA, client certificate, key) or the unreadable token file.
  static Result<std::unique_ptr<KubernetesClient>> create(KubernetesConfig config, Options options,
                                                          const Clock& clock);
  static Result<std::unique_ptr<KubernetesClient>> create(KubernetesConfig config);

  ~KubernetesClient() override;
  KubernetesClient(const KubernetesClient&) = delete;
  KubernetesClient& operator=(const KubernetesClient&) = delete;

  Result<ApiResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                              std::string_view contentType = {}) override;

  Result<ApiResponse> requestWithin(std::chrono::milliseconds budget, std::string_view method, std::string_view target,
                                    std::string_view body = {}, std::string_view contentType = {}) override;

  Result<ApiResponse> stream(std::string_view target, const DataHandler& onData, StreamCancel& cancel,
                             std::chrono::milliseconds idleTimeout) override;

  const KubernetesConfig& config() const noexcept;

 private:
  struct Impl;
  explicit KubernetesClient(std::unique_ptr<Impl> impl);
  Result<ApiResponse> send(std::string_view method, std::string_view target, std::string_view body,
                           std::string_view contentType, std::optional<std::chrono::steady_clock::time_point> deadline);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringlb::op
