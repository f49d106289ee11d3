#pragma once

#include <string>

namespace ringlb::apod {

/// An API answer before it becomes HTTP: a status and a JSON body.
struct ApiReply {
  unsigned status = 200;
  std::string body;

  /// The real API's error shape: {"code":N,"msg":"...","service_version":"v1"}.
  static ApiReply error(unsigned status, const std::string& message);
};

}  // namespace ringlb::apod
