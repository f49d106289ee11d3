#include "ringlb/proxy/logging.h"

#include <atomic>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "access_log.h"
#include "ringlb/base/json_string.h"

namespace ringlb::proxy {

namespace {

std::atomic<bool> gJson{false};

}  // namespace

void setupLogging(const ProxyConfig::Log& log) {
  gJson = log.json;
  configureLogging("ringlb-proxy", log.level, log.json ? LogFormat::Json : LogFormat::Text);
  if (!spdlog::get("access")) {
    auto access = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    access->set_pattern("%v");
    spdlog::register_logger(access);
  }
}

void logAccess(const AccessRecord& r) {
  auto logger = spdlog::get("access");
  if (!logger) return;
  const double ms = static_cast<double>(r.durationNanos) / 1e6;
  if (gJson.load(std::memory_order_relaxed)) {
    logger->info(R"({{"client":"{}","method":"{}","target":"{}","status":{},"member":"{}","duration_ms":{:.3f}{}{}{}}})",
                 r.client, jsonEscape(r.method), jsonEscape(r.target), r.status, jsonEscape(r.member), ms,
                 r.note.empty() ? "" : R"(,"reason":")", jsonEscape(r.note), r.note.empty() ? "" : "\"");
  } else {
    logger->info("{} \"{} {}\" {} member={} {:.3f}ms{}{}", r.client, r.method, r.target, r.status, r.member, ms,
                 r.note.empty() ? "" : " reason=", r.note);
  }
}

}  // namespace ringlb::proxy
