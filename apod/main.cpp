// ringlb-apod: ringlb's demo backend. Parses the CLI, wires the objects, runs until SIGTERM.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "ringlb/apod/apod_metrics.h"
#include "ringlb/apod/apod_options.h"
#include "ringlb/apod/apod_service.h"
#include "ringlb/apod/dataset.h"
#include "ringlb/apod/fault_injector.h"
#include "ringlb/apod/http_server.h"
#include "ringlb/apod/request_router.h"
#include "ringlb/apod/upstream_client.h"
#include "ringlb/apod/upstream_forwarder.h"
#include "ringlb/base/logging.h"

namespace {

namespace asio = boost::asio;
using namespace ringlb::apod;

// Exit status of POST /admin/crash (EX_SOFTWARE): non-zero, and distinct from a CLI error (2).
constexpr int kCrashExitCode = 70;
constexpr int kUsageExitCode = 2;
constexpr int kStartupExitCode = 1;

std::unique_ptr<UpstreamForwarder> makeForwarder(const ApodOptions& options, const ApodService& offline,
                                                 ApodMetrics& metrics) {
  auto url = UpstreamUrl::parse(options.upstream).value();  // validated by finalizeApodOptions
  std::shared_ptr<asio::ssl::context> tls;
  if (url.tls) tls = UpstreamClient::makeTlsContext(options.upstreamCaFile);
  auto client = std::make_unique<UpstreamClient>(url, std::chrono::milliseconds{options.upstreamTimeoutMs}, tls);
  ResponseCacheLimits limits{options.cacheEntries, options.cacheMaxMb << 20,
                             std::chrono::seconds{options.cacheTtlSeconds}};
  return std::make_unique<UpstreamForwarder>(std::move(client), options.apiKey, limits, offline, &metrics);
}

}  // namespace

int main(int argc, char** argv) {
  ApodOptions options;
  CLI::App app{
      "ringlb's demo backend: an API shaped like NASA's APOD API (GET /planetary/apod ?date= | ?start_date=&end_date= "
      "| ?count=N), served from a bundled dataset generated deterministically for every day from " +
          kFirstApodDate.iso() + " to " + kLastDatasetDate.iso() +
          ". Also /healthz, /metrics, and fault injection under /admin when enabled.",
      "ringlb-apod"};
  app.footer("Signals: SIGTERM/SIGINT stop gracefully (exit 0). POST /admin/crash exits with status " +
             std::to_string(kCrashExitCode) + ".");
  addApodOptions(app, options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageExitCode;
  }
  if (auto status = finalizeApodOptions(options, app); !status) {
    std::cerr << "ringlb-apod: " << status.error() << "\nRun with --help for usage.\n";
    return kUsageExitCode;
  }
  ringlb::configureLogging("ringlb-apod", options.logLevel,
                           options.logJson ? ringlb::LogFormat::Json : ringlb::LogFormat::Text);

  const ApodService offline{Dataset{}, [] {
                              thread_local std::mt19937_64 engine{std::random_device{}()};
                              return engine();
                            }};
  ApodMetrics metrics{options.slot};
  FaultInjector faults;
  std::unique_ptr<UpstreamForwarder> forwarder;
  if (!options.upstream.empty()) {
    try {
      forwarder = makeForwarder(options, offline, metrics);
    } catch (const std::exception& e) {
      spdlog::error("--upstream-ca-file '{}': {}", options.upstreamCaFile, e.what());
      return kStartupExitCode;
    }
  }
  RequestRouter router{RouterConfig{options.slot, options.enableFaults}, offline, forwarder.get(), faults, metrics,
                       [] {
                         spdlog::default_logger()->flush();
                         std::_Exit(kCrashExitCode);
                       }};

  asio::io_context ioc{static_cast<int>(options.threads)};
  HttpServerLimits limits;
  limits.drainTimeout = std::chrono::milliseconds{options.drainTimeoutMs};
  HttpServer server{ioc, router, limits};
  const asio::ip::tcp::endpoint endpoint{asio::ip::make_address(options.listenAddress),
                                         static_cast<unsigned short>(options.port)};
  if (auto status = server.listen(endpoint); !status) {
    spdlog::error("{}", status.error());
    return kStartupExitCode;
  }
  const auto bound = server.localEndpoint();
  const auto address = bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
  spdlog::info("listening on {}:{} (slot {}, {} threads, dataset {}..{}, faults {}, upstream {})", address,
               bound.port(), options.slot, options.threads, kFirstApodDate.iso(), kLastDatasetDate.iso(),
               options.enableFaults ? "enabled" : "off", options.upstream.empty() ? "none" : options.upstream);
  server.start();

  // The signal set lives on a strand: its handler and the cancel posted by onStopped (which
  // may run on another thread) must not overlap.
  auto signalStrand = asio::make_strand(ioc);
  asio::signal_set signals{signalStrand, SIGINT, SIGTERM};
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping gracefully", signal);
    signals.async_wait([&ioc](const boost::system::error_code& again, int) {
      if (again) return;
      spdlog::warn("second signal: stopping now");
      ioc.stop();
    });
    router.setDraining(true);
    server.stop([&] { asio::post(signalStrand, [&signals] { signals.cancel(); }); });
  });

  std::vector<std::thread> workers;
  for (unsigned i = 1; i < options.threads; ++i) workers.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& worker : workers) worker.join();
  spdlog::info("stopped");
  return 0;
}
