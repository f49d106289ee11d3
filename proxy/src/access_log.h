#pragma once

#include <cstdint>
#include <string_view>

namespace ringlb::proxy {

/// One access-log line.
struct AccessRecord {
  std::string_view client;
  std::string_view method;
  std::string_view target;
  unsigned status = 0;
  std::string_view member;
  std::int64_t durationNanos = 0;
  std::string_view note;  // the reason of a local reply
};

/// Writes an access-log line (JSON or plain, as configured). Only called
/// when access logs are on.
void logAccess(const AccessRecord& record);

}  // namespace ringlb::proxy
