#pragma once

#include <string>

namespace ringlb::apod {

/// Sends spdlog's default logger to stderr, as text or as JSON lines
/// ({"time","level","logger","msg"}), at `level` (a name spdlog knows). Startup only.
void configureLogging(bool json, const std::string& level);

}  // namespace ringlb::apod
