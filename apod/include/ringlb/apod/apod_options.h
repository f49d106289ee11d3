#pragma once

#include <cstdint>
#include <string>

#include <CLI/App.hpp>

#include "ringlb/base/logging.h"
#include "ringlb/base/result.h"

namespace ringlb::apod {

/// Everything ringlb-apod is configured with; see --help for each field's meaning.
struct ApodOptions {
  int port = 8080;
  std::string listenAddress = "0.0.0.0";
  std::string slot;
  bool enableFaults = false;
  unsigned threads = 0;  // 0: one per core
  std::string upstream;
  std::string apiKey;
  std::string upstreamCaFile;
  unsigned upstreamTimeoutMs = 5000;
  std::size_t cacheEntries = 1024;
  std::size_t cacheMaxMb = 64;
  unsigned cacheTtlSeconds = 3600;
  unsigned drainTimeoutMs = 10'000;
  bool logJson = false;
  LogLevel logLevel = LogLevel::Info;
};

/// Declares every option on `app`, bound to `options`. `RINGLB_SLOT` and `NASA_API_KEY` supply
/// defaults for --slot and --api-key; `PORT` is applied by finalizeApodOptions.
void addApodOptions(CLI::App& app, ApodOptions& options);

/// Checks what CLI11 cannot (address syntax, slot characters, upstream URL, option pairs) and
/// fills derived defaults ($PORT when --port was not given on `app`, slot = host name,
/// threads = cores). Returns an error naming the option. Startup only.
Status finalizeApodOptions(ApodOptions& options, const CLI::App& app);

}  // namespace ringlb::apod
