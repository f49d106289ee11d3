#include "ringlb/apod/apod_options.h"

#include <cstdlib>
#include <vector>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

namespace ringlb::apod {
namespace {

// Parses `args` like the program does; returns the finalize status (CLI11 errors throw).
Status parseArgs(std::vector<std::string> args, ApodOptions& options) {
  CLI::App app{"test"};
  addApodOptions(app, options);
  std::vector<const char*> argv{"ringlb-apod"};
  for (const auto& arg : args) argv.push_back(arg.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return finalizeApodOptions(options, app);
}

class ApodOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto* name : {"PORT", "RINGLB_SLOT", "NASA_API_KEY"}) unsetenv(name);
  }
  void TearDown() override { SetUp(); }
};

TEST_F(ApodOptionsTest, Defaults) {
  ApodOptions options;
  ASSERT_TRUE(parseArgs({}, options).ok());
  EXPECT_EQ(options.port, 8080);
  EXPECT_EQ(options.listenAddress, "0.0.0.0");
  EXPECT_FALSE(options.slot.empty());  // the host name
  EXPECT_GE(options.threads, 1U);
  EXPECT_FALSE(options.enableFaults);
}

TEST_F(ApodOptionsTest, EnvironmentSuppliesPortAndSlotButFlagsWin) {
  setenv("PORT", "9123", 1);
  setenv("RINGLB_SLOT", "apod-3", 1);
  ApodOptions fromEnv;
  ASSERT_TRUE(parseArgs({}, fromEnv).ok());
  EXPECT_EQ(fromEnv.port, 9123);
  EXPECT_EQ(fromEnv.slot, "apod-3");
  ApodOptions fromFlags;
  ASSERT_TRUE(parseArgs({"--port", "7000", "--slot", "apod-9"}, fromFlags).ok());
  EXPECT_EQ(fromFlags.port, 7000);
  EXPECT_EQ(fromFlags.slot, "apod-9");
}

TEST_F(ApodOptionsTest, BadPortEnvironmentIsNamed) {
  setenv("PORT", "eighty", 1);
  ApodOptions options;
  const auto status = parseArgs({}, options);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("PORT='eighty'"), std::string::npos) << status.error();
}

TEST_F(ApodOptionsTest, CliRangeErrorsThrow) {
  ApodOptions options;
  EXPECT_THROW(parseArgs({"--port", "70000"}, options), CLI::ValidationError);
  EXPECT_THROW(parseArgs({"--threads", "0"}, options), CLI::ValidationError);
  EXPECT_THROW(parseArgs({"--log-level", "loud"}, options), CLI::ValidationError);
  EXPECT_THROW(parseArgs({"--nope"}, options), CLI::ExtrasError);
}

TEST_F(ApodOptionsTest, FinalizeNamesTheBadOption) {
  const auto error = [](std::vector<std::string> args) {
    ApodOptions options;
    auto status = parseArgs(std::move(args), options);
    return status.ok() ? std::string{"<ok>"} : status.error();
  };
  EXPECT_NE(error({"--listen-address", "localhost"}).find("--listen-address"), std::string::npos);
  EXPECT_NE(error({"--slot", "has space"}).find("--slot"), std::string::npos);
  EXPECT_NE(error({"--upstream", "gopher://x"}).find("--upstream"), std::string::npos);
  EXPECT_NE(error({"--upstream", "https://api.nasa.gov"}).find("--api-key"), std::string::npos);
  EXPECT_EQ(error({"--upstream", "https://api.nasa.gov", "--api-key", "DEMO_KEY"}), "<ok>");
  EXPECT_EQ(error({"--listen-address", "::1"}), "<ok>");
}

TEST_F(ApodOptionsTest, ApiKeyFromEnvironment) {
  setenv("NASA_API_KEY", "from-env", 1);
  ApodOptions options;
  ASSERT_TRUE(parseArgs({"--upstream", "http://127.0.0.1:1"}, options).ok());
  EXPECT_EQ(options.apiKey, "from-env");
}

}  // namespace
}  // namespace ringlb::apod
