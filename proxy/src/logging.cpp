#include "ringlb/proxy/logging.h"

#include <atomic>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "access_log.h"

namespace ringlb::proxy {

namespace {

std::atomic<bool> gJson{false};

// %* : the message, escaped for a JSON string.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const auto escaped = jsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

std::unique_ptr<spdlog::formatter> makeFormatter(bool json) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (json) {
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %v");
  }
  return formatter;
}

}  // namespace

std::string jsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void setupLogging(const ProxyConfig::Log& log) {
  gJson = log.json;
  auto main = std::make_shared<spdlog::logger>("proxy", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  main->set_formatter(makeFormatter(log.json));
  main->set_level(spdlog::level::from_str(log.level));
  main->flush_on(spdlog::level::info);
  spdlog::set_default_logger(main);
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
