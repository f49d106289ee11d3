#include "ringlb/operator/kubernetes_api.h"

#include <nlohmann/json.hpp>

namespace ringlb::op {

ErrorKind apiErrorKind(int status) noexcept {
  switch (status) {
    case 400:
    case 422: return ErrorKind::Invalid;
    case 404:
    case 410: return ErrorKind::NotFound;
    case 409: return ErrorKind::Conflict;
    case 408:
    case 429: return ErrorKind::Transient;
    case 401:
    case 403: return ErrorKind::Unavailable;
    default: return status >= 500 ? ErrorKind::Unavailable : ErrorKind::Internal;
  }
}

std::string apiMessage(const ApiResponse& response) {
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return body["message"].get<std::string>();
  }
  return response.body.substr(0, 200);
}

Error apiError(std::string_view what, const ApiResponse& response) {
  const ErrorKind kind = apiErrorKind(response.status);
  // Said in words for the logs; callers decide by the kind.
  const std::string status = kind == ErrorKind::Conflict ? "conflict (HTTP 409), will retry" : "HTTP " + std::to_string(response.status);
  return {std::string(what) + ": " + status + ": " + apiMessage(response), kind};
}

}  // namespace ringlb::op
