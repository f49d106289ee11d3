#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <atomic>
#include <functional>
#include <string>

#include "ringlb/apod/apod_metrics.h"
#include "ringlb/apod/apod_service.h"
#include "ringlb/apod/fault_injector.h"
#include "ringlb/apod/request_handler.h"
#include "ringlb/apod/upstream_forwarder.h"

namespace ringlb::apod {

struct RouterConfig {
  std::string slot;            // sent in X-Served-By on every response
  bool faultsEnabled = false;  // /admin/* answer 404 unless set
};

/// Routes the backend's endpoints:
///  - GET|HEAD /planetary/apod   the API (offline dataset, or the upstream when configured)
///  - GET|HEAD /healthz          200 "ok", 503 while failing (fault) or draining (SIGTERM)
///  - GET|HEAD /metrics          Prometheus text
///  - POST /admin/{fail,recover,crash,slow?ms=N}   fault injection, only when enabled
/// Unknown paths get a 404 and other methods a 405 (with Allow), both as JSON in the API's error
/// shape. Every response carries X-Served-By. Thread-safe; never throws.
class RequestRouter final : public RequestHandler {
 public:
  /// `offline`, `faults`, `metrics` and `upstream` (nullable) must outlive the router. `crash`
  /// is what /admin/crash calls: in the program it ends the process at once.
  RequestRouter(RouterConfig config, const ApodService& offline, UpstreamForwarder* upstream, FaultInjector& faults,
                ApodMetrics& metrics, std::function<void()> crash);

  boost::asio::awaitable<HttpResponse> handle(HttpRequest request) override;
  HttpResponse reject(boost::beast::http::status status, std::string_view reason) override;

  /// Makes /healthz answer 503 "draining" (set when a graceful stop begins). Thread-safe.
  void setDraining(bool draining) noexcept { draining_.store(draining, std::memory_order_relaxed); }

 private:
  boost::asio::awaitable<HttpResponse> route(const HttpRequest& request);
  boost::asio::awaitable<HttpResponse> api(const HttpRequest& request, const QueryParams& params);
  HttpResponse health(const HttpRequest& request) const;
  HttpResponse admin(const HttpRequest& request, std::string_view action, const QueryParams& params);
  HttpResponse json(const HttpRequest& request, unsigned status, std::string body) const;
  HttpResponse text(const HttpRequest& request, unsigned status, std::string body, std::string_view type) const;
  HttpResponse methodNotAllowed(const HttpRequest& request, std::string_view allow) const;

  RouterConfig config_;
  const ApodService& offline_;
  UpstreamForwarder* upstream_;
  FaultInjector& faults_;
  ApodMetrics& metrics_;
  std::function<void()> crash_;
  std::atomic<bool> draining_{false};
};

}  // namespace ringlb::apod
