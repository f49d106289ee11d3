#pragma once

#include <cstdint>
#include <string_view>

#include "ringlb/proxy/config.h"

namespace ringlb::proxy {

/// Configures spdlog's default logger (stderr): a level, and either the
/// plain pattern or one JSON object per line. Creates the "access" logger
/// (stdout) used when access logs are on. Call once at start.
void setupLogging(const ProxyConfig::Log& log);

/// Escapes `text` for a JSON string (without the quotes).
std::string jsonEscape(std::string_view text);

}  // namespace ringlb::proxy
