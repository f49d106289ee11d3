#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb {

/// How much a program logs, least to most severe; Off logs nothing.
enum class LogLevel { Trace, Debug, Info, Warn, Error, Critical, Off };

/// How a program writes its log lines to stderr.
enum class LogFormat {
  Text,  // 2026-12-06T04:41:15.123Z info [ringlb-proxy] listening ...
  Json,  // {"time":"2026-12-06T04:41:15.123Z","level":"info","logger":"ringlb-proxy","msg":"listening ..."}
};

/// The level names --log-level takes, in order, for help texts.
inline constexpr std::string_view kLogLevelNames = "trace, debug, info, warn, error, critical, off";

/// Parses a level name: one of kLogLevelNames, or "warning" for warn. Returns an Invalid error
/// that names the text for anything else. Pure.
Result<LogLevel> parseLogLevel(std::string_view name);

/// The name log lines carry for `level`, one of kLogLevelNames. Pure.
std::string_view logLevelName(LogLevel level);

/// One log record: what spdlog hands a formatter.
struct LogRecord {
  std::chrono::system_clock::time_point time;
  LogLevel level = LogLevel::Info;
  std::string_view logger;   // the program, e.g. "ringlb-proxy"
  std::string_view message;
};

/// Appends `record` to `out` as one line ending in '\n', in the one shape every ringlb program
/// logs in (see LogFormat). The time is RFC 3339 in UTC with milliseconds. In JSON the logger
/// and message are escaped as appendJsonEscaped does, so every line parses, whatever bytes the
/// message holds; in text they are written as they are. Pure.
void appendLogLine(std::string& out, const LogRecord& record, LogFormat format);

/// Makes spdlog's default logger the program's: named `program` (the binary's name), writing
/// lines shaped by appendLogLine to stderr at `level` and above, each flushed from info up.
/// Text lines colour the level when stderr is a terminal. Call at start, before other threads log.
void configureLogging(std::string_view program, LogLevel level, LogFormat format);

}  // namespace ringlb
