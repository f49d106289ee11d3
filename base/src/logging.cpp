#include "ringlb/base/logging.h"

#include <ctime>
#include <memory>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "ringlb/base/json_string.h"

namespace ringlb {

namespace {

// Indexed by LogLevel.
constexpr std::string_view kLevelNames[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
static_assert(std::size(kLevelNames) == static_cast<std::size_t>(LogLevel::Off) + 1);

// Where the level name stands in a line, for the colour a terminal sink puts on it.
struct LevelSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
};

void appendDigits(std::string& out, long value, int width) {
  char digits[8];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits, static_cast<std::size_t>(width));
}

// 2026-12-06T04:41:15.123Z
void appendTimestamp(std::string& out, std::chrono::system_clock::time_point time) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds).count();
  const std::time_t since = std::chrono::system_clock::to_time_t(seconds);
  std::tm utc{};
  ::gmtime_r(&since, &utc);
  appendDigits(out, utc.tm_year + 1900L, 4);
  out.push_back('-');
  appendDigits(out, utc.tm_mon + 1, 2);
  out.push_back('-');
  appendDigits(out, utc.tm_mday, 2);
  out.push_back('T');
  appendDigits(out, utc.tm_hour, 2);
  out.push_back(':');
  appendDigits(out, utc.tm_min, 2);
  out.push_back(':');
  appendDigits(out, utc.tm_sec, 2);
  out.push_back('.');
  appendDigits(out, static_cast<long>(millis), 3);
  out.push_back('Z');
}

LevelSpan appendLine(std::string& out, const LogRecord& record, LogFormat format) {
  LevelSpan level;
  if (format == LogFormat::Json) {
    out += R"({"time":")";
    appendTimestamp(out, record.time);
    out += R"(","level":")";
    out += logLevelName(record.level);
    out += R"(","logger":")";
    appendJsonEscaped(out, record.logger);
    out += R"(","msg":")";
    appendJsonEscaped(out, record.message);
    out += "\"}\n";
    return {};
  }
  appendTimestamp(out, record.time);
  out.push_back(' ');
  level.begin = out.size();
  out += logLevelName(record.level);
  level.end = out.size();
  out += " [";
  out += record.logger;
  out += "] ";
  out += record.message;
  out.push_back('\n');
  return level;
}

LogLevel fromSpdlog(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return LogLevel::Trace;
    case spdlog::level::debug: return LogLevel::Debug;
    case spdlog::level::info: return LogLevel::Info;
    case spdlog::level::warn: return LogLevel::Warn;
    case spdlog::level::err: return LogLevel::Error;
    case spdlog::level::critical: return LogLevel::Critical;
    default: return LogLevel::Off;
  }
}

spdlog::level::level_enum toSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::Trace: return spdlog::level::trace;
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
    case LogLevel::Critical: return spdlog::level::critical;
    case LogLevel::Off: return spdlog::level::off;
  }
  return spdlog::level::off;
}

// spdlog's formatter for appendLogLine. Sinks hold their own clone and call it under their lock,
// so the scratch line is never shared.
class LogLineFormatter final : public spdlog::formatter {
 public:
  explicit LogLineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    line_.clear();
    const LogRecord record{msg.time, fromSpdlog(msg.level), {msg.logger_name.data(), msg.logger_name.size()},
                           {msg.payload.data(), msg.payload.size()}};
    const LevelSpan level = appendLine(line_, record, format_);
    msg.color_range_start = dest.size() + level.begin;
    msg.color_range_end = dest.size() + level.end;
    dest.append(line_.data(), line_.data() + line_.size());
  }

  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LogLineFormatter>(format_);
  }

 private:
  LogFormat format_;
  std::string line_;
};

}  // namespace

Result<LogLevel> parseLogLevel(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (name == kLevelNames[i]) return static_cast<LogLevel>(i);
  }
  if (name == "warning") return LogLevel::Warn;
  return Error::invalid("must be one of " + std::string(kLogLevelNames) + " (got '" + std::string(name) + "')");
}

std::string_view logLevelName(LogLevel level) {
  const auto index = static_cast<std::size_t>(level);
  return index < std::size(kLevelNames) ? kLevelNames[index] : "off";
}

void appendLogLine(std::string& out, const LogRecord& record, LogFormat format) { appendLine(out, record, format); }

void configureLogging(std::string_view program, LogLevel level, LogFormat format) {
  // Colour only where a person reads: the colour sink checks that stderr is a terminal.
  spdlog::sink_ptr sink;
  if (format == LogFormat::Text) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>(std::string(program), std::move(sink));
  logger->set_formatter(std::make_unique<LogLineFormatter>(format));
  logger->set_level(toSpdlog(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace ringlb
