#include "ringlb/base/logging.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>
#include <vector>

namespace ringlb {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;

// 2026-12-06T04:41:15.123456Z
const auto kTime = std::chrono::system_clock::time_point{std::chrono::seconds{1'796'532'075}} + 123456us;

std::string line(LogFormat format, LogLevel level, std::string_view message, std::string_view logger = "ringlb-proxy") {
  std::string out;
  appendLogLine(out, {kTime, level, logger, message}, format);
  return out;
}

TEST(LogLine, JsonShapeIsExact) {
  EXPECT_EQ(line(LogFormat::Json, LogLevel::Info, "listening data=127.0.0.1:8080"),
            R"({"time":"2026-12-06T04:41:15.123Z","level":"info","logger":"ringlb-proxy","msg":"listening data=127.0.0.1:8080"})"
            "\n");
}

TEST(LogLine, JsonEscapesQuotesNewlinesControlsAndBadUtf8) {
  const std::string message = "slot \"a\\b\"\nnext line\t\x01\x1b[0m caf\xC3\xA9 \xff\xfe end";
  const std::string out = line(LogFormat::Json, LogLevel::Warn, message, "ringlb-apod");
  EXPECT_EQ(out, R"({"time":"2026-12-06T04:41:15.123Z","level":"warn","logger":"ringlb-apod",)"
                 R"("msg":"slot \"a\\b\"\nnext line\t\u0001\u001b[0m caf)" "\xC3\xA9" R"( \ufffd\ufffd end"})" "\n");
  ASSERT_EQ(out.find('\n'), out.size() - 1) << "one record, one line";
  const auto parsed = nlohmann::json::parse(out);
  EXPECT_EQ(parsed.at("msg"), "slot \"a\\b\"\nnext line\t\x01\x1b[0m caf\xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD end");
  EXPECT_EQ(parsed.size(), 4u);
}

TEST(LogLine, JsonEscapesTheLoggerName) {
  const auto parsed = nlohmann::json::parse(line(LogFormat::Json, LogLevel::Info, "m", "odd\"name"));
  EXPECT_EQ(parsed.at("logger"), "odd\"name");
}

TEST(LogLine, EveryLevelHasItsName) {
  const std::vector<std::pair<LogLevel, std::string>> levels = {
      {LogLevel::Trace, "trace"}, {LogLevel::Debug, "debug"}, {LogLevel::Info, "info"},
      {LogLevel::Warn, "warn"},   {LogLevel::Error, "error"}, {LogLevel::Critical, "critical"}};
  for (const auto& [level, name] : levels) {
    EXPECT_EQ(nlohmann::json::parse(line(LogFormat::Json, level, "m")).at("level"), name);
    EXPECT_EQ(line(LogFormat::Text, level, "m"), "2026-12-06T04:41:15.123Z " + name + " [ringlb-proxy] m\n");
  }
}

TEST(LogLine, TextShapeKeepsTheMessageAsItIs) {
  EXPECT_EQ(line(LogFormat::Text, LogLevel::Error, "bad \"file\"\nline 2", "ringlb-operator"),
            "2026-12-06T04:41:15.123Z error [ringlb-operator] bad \"file\"\nline 2\n");
}

TEST(LogLine, TimeIsUtcWithMillisecondsRoundedDown) {
  std::string out;
  appendLogLine(out, {std::chrono::system_clock::time_point{} + 999ms + 999us, LogLevel::Info, "p", "m"},
                LogFormat::Text);
  EXPECT_EQ(out, "1970-01-01T00:00:00.999Z info [p] m\n");
}

TEST(LogLevelNames, ParseEachNameAndWarning) {
  for (const auto* name : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    const auto level = parseLogLevel(name);
    ASSERT_TRUE(level.ok()) << name;
    EXPECT_EQ(logLevelName(level.value()), name);
  }
  EXPECT_EQ(parseLogLevel("warning").value(), LogLevel::Warn);
}

TEST(LogLevelNames, RejectUnknownNamingTheText) {
  const auto level = parseLogLevel("chatty");
  ASSERT_FALSE(level.ok());
  EXPECT_EQ(level.errorKind(), ErrorKind::Invalid);
  EXPECT_EQ(level.error(), "must be one of trace, debug, info, warn, error, critical, off (got 'chatty')");
  EXPECT_FALSE(parseLogLevel("INFO").ok());
  EXPECT_FALSE(parseLogLevel("").ok());
}

// The whole path: spdlog's default logger, the level filter and the formatter, onto stderr.
TEST(ConfigureLogging, DefaultLoggerWritesJsonLinesAtTheLevel) {
  testing::internal::CaptureStderr();
  configureLogging("ringlb-test", LogLevel::Info, LogFormat::Json);
  spdlog::debug("hidden");
  spdlog::info("shown {}", "\"quoted\"");
  spdlog::error("broken\nin two");
  const std::string captured = testing::internal::GetCapturedStderr();
  std::istringstream lines(captured);
  std::vector<nlohmann::json> records;
  for (std::string text; std::getline(lines, text);) records.push_back(nlohmann::json::parse(text));
  ASSERT_EQ(records.size(), 2u) << captured;
  EXPECT_EQ(records[0].at("level"), "info");
  EXPECT_EQ(records[0].at("logger"), "ringlb-test");
  EXPECT_EQ(records[0].at("msg"), "shown \"quoted\"");
  EXPECT_EQ(records[1].at("level"), "error");
  EXPECT_EQ(records[1].at("msg"), "broken\nin two");
  EXPECT_EQ(records[1].at("time").get<std::string>().size(), std::string("2026-12-06T04:41:15.123Z").size());
}

TEST(ConfigureLogging, TextLinesWithoutColourWhenNotATerminal) {
  testing::internal::CaptureStderr();
  configureLogging("ringlb-test", LogLevel::Warn, LogFormat::Text);
  spdlog::info("hidden");
  spdlog::warn("careful");
  const std::string captured = testing::internal::GetCapturedStderr();
  ASSERT_EQ(captured.size(), std::string("2026-12-06T04:41:15.123Z warn [ringlb-test] careful\n").size()) << captured;
  EXPECT_EQ(captured.substr(24), " warn [ringlb-test] careful\n");
}

}  // namespace
}  // namespace ringlb
