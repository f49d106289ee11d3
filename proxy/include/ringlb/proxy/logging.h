#pragma once

#include "ringlb/proxy/config.h"

namespace ringlb::proxy {

/// Configures spdlog's default logger (stderr) as ringlb::configureLogging does for every
/// program ("ringlb-proxy", the configured level, text or JSON lines), and creates the
/// "access" logger (stdout) used when access logs are on. Call once at start.
void setupLogging(const ProxyConfig::Log& log);

}  // namespace ringlb::proxy
