#include "ringlb/operator/leader_fenced_api.h"

#include <spdlog/spdlog.h>

namespace ringlb::op {

LeaderFencedApi::LeaderFencedApi(KubernetesApi& inner, std::function<bool()> mayWrite, std::function<void()> onRefused)
    : inner_(inner), mayWrite_(std::move(mayWrite)), onRefused_(std::move(onRefused)) {}

std::optional<Error> LeaderFencedApi::refuse(std::string_view method, std::string_view target) {
  if (method == "GET" || method == "HEAD" || mayWrite_()) return std::nullopt;
  ++refused_;
  if (onRefused_) onRefused_();
  const std::string what = std::string(method) + " " + std::string(target.substr(0, target.find('?')));
  spdlog::warn("leader election: refused {}: this replica no longer holds the Lease", what);
  return Error::unavailable(what + ": refused, this replica does not hold the leader Lease");
}

Result<ApiResponse> LeaderFencedApi::request(std::string_view method, std::string_view target, std::string_view body,
                                             std::string_view contentType) {
  if (auto refused = refuse(method, target)) return *refused;
  return inner_.request(method, target, body, contentType);
}

Result<ApiResponse> LeaderFencedApi::requestWithin(std::chrono::milliseconds budget, std::string_view method,
                                                   std::string_view target, std::string_view body,
                                                   std::string_view contentType) {
  if (auto refused = refuse(method, target)) return *refused;
  return inner_.requestWithin(budget, method, target, body, contentType);
}

Result<ApiResponse> LeaderFencedApi::stream(std::string_view target, const DataHandler& onData, StreamCancel& cancel,
                                            std::chrono::milliseconds idleTimeout) {
  return inner_.stream(target, onData, cancel, idleTimeout);
}

}  // namespace ringlb::op
