#include "ringlb/apod/apod_options.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <thread>

#include <boost/asio/ip/address.hpp>
#include <CLI/CLI.hpp>

#include "ringlb/apod/upstream_url.h"

namespace ringlb::apod {

void addApodOptions(CLI::App& app, ApodOptions& options) {
  app.add_option("--port", options.port, "TCP port to listen on; 0 picks a free one (default: $PORT, else 8080)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--listen-address", options.listenAddress, "IPv4 or IPv6 address to listen on")
      ->capture_default_str();
  app.add_option("--slot", options.slot,
                 "Slot id sent in X-Served-By and the metrics' slot label (default: $RINGLB_SLOT, else the host name)")
      ->envname("RINGLB_SLOT");
  app.add_flag("--enable-faults", options.enableFaults,
               "Enable fault injection: POST /admin/fail, /admin/recover, /admin/crash, /admin/slow?ms=N");
  app.add_option("--threads", options.threads, "I/O threads (default: one per core)")->check(CLI::Range(1U, 256U));
  app.add_option("--upstream", options.upstream,
                 "Forward API requests to the real APOD API at this http:// or https:// URL (e.g. "
                 "https://api.nasa.gov), cache the answers, and fall back to the offline dataset when it fails");
  app.add_option("--api-key", options.apiKey, "API key appended to upstream requests (default: $NASA_API_KEY)")
      ->envname("NASA_API_KEY");
  app.add_option("--upstream-ca-file", options.upstreamCaFile,
                 "Extra PEM CA certificates to trust for an https:// upstream")
      ->check(CLI::ExistingFile);
  app.add_option("--upstream-timeout-ms", options.upstreamTimeoutMs, "Deadline for one upstream request")
      ->check(CLI::Range(1U, 600'000U))
      ->capture_default_str();
  app.add_option("--cache-entries", options.cacheEntries, "Most upstream answers kept in memory")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--cache-max-mb", options.cacheMaxMb, "Most memory (MiB) the upstream cache holds")
      ->check(CLI::Range(std::size_t{1}, std::size_t{65'536}))
      ->capture_default_str();
  app.add_option("--cache-ttl-seconds", options.cacheTtlSeconds, "How long an upstream answer stays cached")
      ->check(CLI::Range(1U, 30U * 86'400U))
      ->capture_default_str();
  app.add_option("--drain-timeout-ms", options.drainTimeoutMs,
                 "On SIGTERM/SIGINT, how long requests in flight may take before connections are cut")
      ->check(CLI::Range(0U, 600'000U))
      ->capture_default_str();
  app.add_flag("--log-json", options.logJson, "Write logs as JSON lines");
  const CLI::Validator knownLevel(
      [](std::string& name) {
        auto level = parseLogLevel(name);
        return level ? std::string() : level.error();
      },
      "LEVEL");
  app.add_option_function<std::string>(
         "--log-level", [&options](const std::string& name) { options.logLevel = parseLogLevel(name).value(); },
         "Log level, one of " + std::string(kLogLevelNames) + "; debug logs every request")
      ->check(knownLevel)
      ->default_str(std::string(logLevelName(options.logLevel)));
}

Status finalizeApodOptions(ApodOptions& options, const CLI::App& app) {
  // $PORT is read here rather than by CLI11 so that a bad value is reported as $PORT's.
  if (app.count("--port") == 0) {
    if (const char* env = std::getenv("PORT"); env != nullptr && *env != '\0') {
      const std::string_view text{env};
      int value = -1;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc{} || end != text.data() + text.size() || value < 0 || value > 65535) {
        return Error{"environment variable PORT='" + std::string(text) + "' is not a port number (0-65535)"};
      }
      options.port = value;
    }
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(options.listenAddress, ec);
  if (ec) return Error{"--listen-address '" + options.listenAddress + "' is not an IPv4 or IPv6 address"};

  if (options.slot.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
      return Error{"--slot not given, $RINGLB_SLOT unset, and the host name is unavailable"};
    }
    options.slot = host;
  }
  const bool printable = std::all_of(options.slot.begin(), options.slot.end(),
                                     [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
  if (!printable || options.slot.size() > 253) {
    return Error{"--slot '" + options.slot + "' must be 1-253 printable characters without spaces"};
  }

  if (options.threads == 0) options.threads = std::max(1U, std::thread::hardware_concurrency());

  if (!options.upstream.empty()) {
    auto url = UpstreamUrl::parse(options.upstream);
    if (!url) return Error{"--upstream: " + url.error()};
    if (options.apiKey.empty()) {
      return Error{"--upstream needs --api-key (or $NASA_API_KEY); NASA's demo key is DEMO_KEY"};
    }
  } else if (!options.upstreamCaFile.empty()) {
    return Error{"--upstream-ca-file needs --upstream"};
  }
  return ok();
}

}  // namespace ringlb::apod
