#include "ringlb/operator/operator_app.h"

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "ringlb/operator/api_server.h"
#include "ringlb/operator/controller.h"
#include "ringlb/operator/file_source.h"
#include "ringlb/operator/heartbeat_prober.h"
#include "ringlb/operator/operator_metrics.h"
#include "ringlb/operator/ring_registry.h"
#include "ringlb/operator/runtime_factory.h"

namespace ringlb::op {

namespace asio = boost::asio;

namespace {

// "%j": the log message as a JSON string body (quotes, backslashes, controls escaped).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (const char c : std::string_view(message.payload.data(), message.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            dest.append(std::string_view(escaped));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

}  // namespace

bool configureLogging(const std::string& level, bool json) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") return false;
  auto logger = spdlog::stderr_color_mt("ringlb-operator");
  spdlog::set_default_logger(logger);
  spdlog::set_level(parsed);
  spdlog::flush_on(spdlog::level::info);
  if (json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%j"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  return true;
}

int runOperator(const OperatorOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  std::filesystem::create_directories(options.stateDir, ec);
  if (ec) {
    spdlog::critical("--state-dir {}: {}", options.stateDir.string(), ec.message());
    return 1;
  }

  RingRegistry registry(options.stateDir);
  for (const auto& error : registry.load()) spdlog::warn("ring state: {}", error);

  auto runtime = makeRuntime({options.runtime, options.stateDir});
  if (!runtime) {
    spdlog::critical("{}", runtime.error());
    return 2;
  }
  OperatorMetrics metrics;
  SteadyClock clock;
  asio::io_context io(1);
  Controller* controllerPtr = nullptr;
  HeartbeatProber prober(io, [&controllerPtr](const ProbeResult& result) {
    if (controllerPtr) controllerPtr->onProbeResult(result);
  });
  FileSource source(options.resources, options.pollInterval);
  ControllerOptions controllerOptions;
  controllerOptions.resync = options.resync;
  controllerOptions.workers = options.workers;
  controllerOptions.reconcile.stopGrace = options.stopGrace;
  Controller controller(source, *runtime.value(), registry, prober, metrics, clock, controllerOptions);
  controllerPtr = &controller;

  ApiServer server(io, registry,
                   {[&controller] { return controller.statusJson(); }, [&controller] { return controller.readiness(); },
                    [&metrics] { return metrics.serialize(); }});
  auto bound = server.listen(options.listen);
  if (!bound) {
    spdlog::critical("{}", bound.error());
    return 1;
  }
  spdlog::info("ringlb-operator listening on {}:{} (runtime {}, resources {}, state {})",
               bound->address().to_string(), bound->port(), options.runtime, options.resources,
               options.stateDir.string());

  std::mutex mutex;
  std::condition_variable signalled;
  int received = 0;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& error, int number) {
    if (error) return;
    std::lock_guard lock(mutex);
    received = number;
    signalled.notify_all();
  });
  std::thread ioThread([&io] { io.run(); });

  if (auto started = controller.start(); !started) {
    spdlog::critical("{}", started.error());
    server.close();
    io.stop();
    ioThread.join();
    return 1;
  }
  {
    std::unique_lock lock(mutex);
    signalled.wait(lock, [&] { return received != 0; });
  }
  spdlog::info("{} received: shutting down{}", received == SIGTERM ? "SIGTERM" : "SIGINT",
               options.leaveRunning ? " (leaving replicas running)" : ", stopping replicas");
  controller.shutdown(!options.leaveRunning);
  server.close();
  io.stop();
  ioThread.join();
  spdlog::info("ringlb-operator stopped");
  return 0;
}

}  // namespace ringlb::op
