#include "ringlb/operator/process_runtime.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "ringlb/operator/reconcile_plan.h"
#include "ringlb/operator/replica_variables.h"

namespace ringlb::op {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

pid_t pidOf(const std::string& runtimeId) { return static_cast<pid_t>(std::stol(runtimeId.substr(0, runtimeId.find(':')))); }

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class EventLog {
 public:
  Runtime::EventHandler handler() {
    return [this](const RuntimeEvent& event) {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      changed_.notify_all();
    };
  }
  std::optional<RuntimeEvent> waitFor(const std::string& runtimeId, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<RuntimeEvent> found;
    changed_.wait_for(lock, timeout, [&] {
      for (const auto& event : events_) {
        if (event.runtimeId == runtimeId) found = event;
      }
      return found.has_value();
    });
    return found;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<RuntimeEvent> events_;
};

class ProcessRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("ringlb-process-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
  }
  void TearDown() override {
    // Whatever a test left running goes, even when it failed half-way.
    for (const auto& pid : started) ::kill(-pid, SIGKILL);
    fs::remove_all(dir);
  }

  ReplicaSpec specFor(std::uint32_t ordinal, std::vector<std::string> command) {
    HashRing ring;
    ring.metadata.name = "t";
    ring.spec.templ.command = std::move(command);
    return replicaSpecFor(ring, ordinal);
  }

  ReplicaInfo mustRun(ProcessRuntime& runtime, const ReplicaSpec& spec) {
    auto info = runtime.ensureRunning(spec);
    EXPECT_TRUE(info.ok()) << info.error();
    if (!info.ok()) return {};
    started.push_back(pidOf(info->runtimeId));
    return info.value();
  }

  fs::path dir;
  std::vector<pid_t> started;
};

TEST_F(ProcessRuntimeTest, ExpandsPortPassesEnvironmentAndCapturesOutput) {
  ProcessRuntime runtime({dir});
  EventLog events;
  runtime.onEvent(events.handler());
  ReplicaSpec spec = specFor(2, {"sh", "-c", "echo \"arg=$0 port=$PORT slot=$RINGLB_SLOT ring=$RINGLB_RING x=$X\"; exec sleep 30",
                                 "$(PORT)"});
  spec.templ.env = {{"X", "on-$(PORT)"}};
  const ReplicaInfo info = mustRun(runtime, spec);
  EXPECT_EQ(info.slot, "t-2");
  EXPECT_TRUE(info.running);
  ASSERT_EQ(info.address.rfind("127.0.0.1:", 0), 0u);
  const std::string port = info.address.substr(10);
  const fs::path log = dir / "logs" / "t-2.log";
  std::string text;
  // "x=on-" only appears in the replica's own output, not in the operator's header line.
  for (int i = 0; i < 200 && text.find("x=on-") == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
    text = readFile(log);
  }
  EXPECT_NE(text.find("arg=" + port + " port=" + port + " slot=t-2 ring=t x=on-" + port), std::string::npos) << text;

  // Its own session, so it outlives the operator and misses its terminal's signals.
  const std::string stat = readFile("/proc/" + std::to_string(pidOf(info.runtimeId)) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string state, ppid, pgrp, session;
  fields >> state >> ppid >> pgrp >> session;
  EXPECT_EQ(session, std::to_string(pidOf(info.runtimeId)));

  const auto state_file = readFile(dir / "replicas" / "t-2.json");
  EXPECT_NE(state_file.find("\"startTime\""), std::string::npos);
  EXPECT_NE(state_file.find(info.specHash), std::string::npos);
}

TEST_F(ProcessRuntimeTest, ReportsAnExitAtOnce) {
  ProcessRuntime runtime({dir});
  EventLog events;
  runtime.onEvent(events.handler());
  const ReplicaInfo info = mustRun(runtime, specFor(0, {"sleep", "30"}));
  const auto killedAt = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pidOf(info.runtimeId), SIGKILL), 0);
  const auto event = events.waitFor(info.runtimeId, 2s);
  ASSERT_TRUE(event);
  EXPECT_LT(std::chrono::steady_clock::now() - killedAt, 500ms);
  EXPECT_EQ(event->kind, RuntimeEvent::Kind::Exited);
  EXPECT_EQ(event->slot, "t-0");
  EXPECT_EQ(event->reason, "killed by SIGKILL (exit code 137)");
  const auto listed = runtime.list();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE(listed->front().running);
}

TEST_F(ProcessRuntimeTest, AdoptsLiveReplicasAfterARestartWithoutRestartingThem) {
  ReplicaSpec spec = specFor(0, {"sleep", "30"});
  ReplicaInfo first;
  {
    ProcessRuntime runtime({dir});
    first = mustRun(runtime, spec);
  }  // the "operator" goes away; the replica does not
  ASSERT_EQ(::kill(pidOf(first.runtimeId), 0), 0);

  ProcessRuntime runtime({dir});
  EventLog events;
  runtime.onEvent(events.handler());
  const auto listed = runtime.list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().runtimeId, first.runtimeId);
  EXPECT_EQ(listed->front().address, first.address);
  EXPECT_TRUE(listed->front().running);
  const ReplicaInfo again = mustRun(runtime, spec);
  EXPECT_EQ(again.runtimeId, first.runtimeId) << "same spec hash: adopted, not restarted";

  ASSERT_EQ(::kill(pidOf(first.runtimeId), SIGKILL), 0);
  EXPECT_TRUE(events.waitFor(first.runtimeId, 2s)) << "exits of adopted replicas are seen too";
}

TEST_F(ProcessRuntimeTest, ReplicaThatDiedWhileAwayIsListedAsNotRunning) {
  ReplicaInfo first;
  {
    ProcessRuntime runtime({dir});
    first = mustRun(runtime, specFor(0, {"sleep", "30"}));
    ::kill(pidOf(first.runtimeId), SIGKILL);
    std::this_thread::sleep_for(100ms);
  }
  ProcessRuntime runtime({dir});
  const auto listed = runtime.list();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE(listed->front().running);
  const ReplicaInfo next = mustRun(runtime, specFor(0, {"sleep", "30"}));
  EXPECT_NE(next.runtimeId, first.runtimeId);
  EXPECT_EQ(next.address, first.address) << "the slot gets its port back when it is free";
}

TEST_F(ProcessRuntimeTest, ChangedSpecReplacesTheReplica) {
  ProcessRuntime runtime({dir});
  const ReplicaInfo first = mustRun(runtime, specFor(0, {"sleep", "30"}));
  const ReplicaInfo second = mustRun(runtime, specFor(0, {"sleep", "31"}));
  EXPECT_NE(second.runtimeId, first.runtimeId);
  std::this_thread::sleep_for(50ms);
  EXPECT_NE(::kill(pidOf(first.runtimeId), 0), 0) << "the old replica is gone";
}

TEST_F(ProcessRuntimeTest, StopEscalatesToSigkillAfterTheGrace) {
  ProcessRuntime runtime({dir});
  const ReplicaInfo info = mustRun(runtime, specFor(0, {"sh", "-c", "trap '' TERM; while :; do sleep 1; done"}));
  std::this_thread::sleep_for(100ms);  // let the trap be set
  const auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(runtime.stop("t", "t-0", 1s).ok());
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_GE(took, 1s);
  EXPECT_LT(took, 3s);
  EXPECT_NE(::kill(pidOf(info.runtimeId), 0), 0);
  EXPECT_FALSE(fs::exists(dir / "replicas" / "t-0.json"));
  EXPECT_TRUE(runtime.list()->empty());
  EXPECT_TRUE(runtime.stop("t", "t-0", 1s).ok()) << "stopping nothing succeeds";
}

TEST_F(ProcessRuntimeTest, QuickStopForAProcessThatHonoursSigterm) {
  ProcessRuntime runtime({dir});
  mustRun(runtime, specFor(0, {"sleep", "30"}));
  const auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(runtime.stop("t", "t-0", 10s).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - began, 1s);
}

TEST_F(ProcessRuntimeTest, MissingCommandIsAClearError) {
  ProcessRuntime runtime({dir});
  const auto result = runtime.ensureRunning(specFor(0, {"ringlb-no-such-program"}));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), "spec.template.command: cannot run 'ringlb-no-such-program': No such file or directory");
  ReplicaSpec imageOnly = specFor(0, {});
  imageOnly.templ.image = "ringlb/apod:0.1.0";
  EXPECT_NE(runtime.ensureRunning(imageOnly).error().find("required by the process runtime"), std::string::npos);
}

TEST(ExpandVariables, ReplacesEveryOccurrenceOfAKnownName) {
  EXPECT_EQ(expandVariables("--port=$(PORT) $(PORT)", {{"PORT", "8080"}}), "--port=8080 8080");
  EXPECT_EQ(expandVariables("$(PORTS)", {{"PORT", "1"}}), "$(PORTS)");
  EXPECT_EQ(expandVariables("none", {{"PORT", "1"}}), "none");
}

TEST(ProcessStartTime, MatchesThisProcessAndRejectsTheDead) {
  EXPECT_TRUE(processStartTime(::getpid()));
  EXPECT_FALSE(processStartTime(0x7ffffff0));
}

}  // namespace
}  // namespace ringlb::op
