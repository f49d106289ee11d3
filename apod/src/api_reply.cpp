#include "ringlb/apod/api_reply.h"

#include <nlohmann/json.hpp>

#include "ringlb/apod/apod_entry.h"

namespace ringlb::apod {

ApiReply ApiReply::error(unsigned status, const std::string& message) {
  const nlohmann::json body = {{"code", status}, {"msg", message}, {"service_version", kServiceVersion}};
  // Messages quote user input, which need not be UTF-8: replace rather than throw.
  return ApiReply{status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

}  // namespace ringlb::apod
