#include "ringlb/operator/replica_record.h"

#include <gtest/gtest.h>

#include "ringlb/operator/testing/fake_clock.h"

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;

class ReplicaRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    check.intervalSeconds = 1;
    check.failureThreshold = 3;
    check.successThreshold = 2;
    ReplicaInfo info{"apod", "apod-0", "100:1", "127.0.0.1:9000", "h", true, ""};
    record.slot = "apod-0";
    recordStarted(record, info, clock.now());
  }
  bool probe(bool success) { return recordProbe(record, check, success, success ? "HTTP 200" : "HTTP 500", clock.now(), 60s); }

  testing::FakeClock clock;
  HealthCheck check;
  ReplicaRecord record;
};

TEST_F(ReplicaRecordTest, BecomesReadyAfterSuccessThreshold) {
  EXPECT_FALSE(probe(true));
  EXPECT_EQ(record.state, ReplicaState::Starting);
  EXPECT_TRUE(probe(true));
  EXPECT_EQ(record.state, ReplicaState::Ready);
  EXPECT_TRUE(record.healthy);
  EXPECT_EQ(record.readySince, clock.now());
}

TEST_F(ReplicaRecordTest, ReadyBecomesNotReadyAndFailedAfterFailureThreshold) {
  probe(true);
  probe(true);
  EXPECT_FALSE(probe(false));
  EXPECT_FALSE(probe(false));
  EXPECT_EQ(record.state, ReplicaState::Ready) << "two failures are below the threshold";
  EXPECT_TRUE(probe(false));
  EXPECT_EQ(record.state, ReplicaState::NotReady);
  EXPECT_TRUE(record.failed);
  EXPECT_EQ(record.crashCount, 1u);
  EXPECT_EQ(record.lastFailure, "heartbeat failed 3 times: HTTP 500");
  EXPECT_FALSE(probe(true)) << "a failed replica waits for its replacement";
}

TEST_F(ReplicaRecordTest, SuccessResetsTheFailureCount) {
  probe(true);
  probe(true);
  probe(false);
  probe(false);
  probe(true);
  probe(false);
  probe(false);
  EXPECT_EQ(record.state, ReplicaState::Ready);
}

TEST_F(ReplicaRecordTest, StartingFailuresCountOnlyAfterIntervalTimesThreshold) {
  // Starting replicas are probed faster than the interval: 3 quick failures
  // within the first 3 s are no verdict yet.
  for (int i = 0; i < 6; ++i) {
    clock.advance(250ms);
    probe(false);
  }
  EXPECT_EQ(record.state, ReplicaState::Starting);
  clock.advance(1500ms);
  probe(false);
  EXPECT_EQ(record.state, ReplicaState::NotReady);
  EXPECT_TRUE(record.failed);
}

TEST_F(ReplicaRecordTest, ExitIsStoppedAndFailedAtOnce) {
  probe(true);
  probe(true);
  EXPECT_TRUE(recordExit(record, "killed by SIGKILL", clock.now(), 60s));
  EXPECT_EQ(record.state, ReplicaState::Stopped);
  EXPECT_EQ(toMemberState(record.state), ring::MemberState::NotReady);
  EXPECT_FALSE(record.running);
  EXPECT_TRUE(record.failed);
  EXPECT_EQ(record.lastFailure, "exited: killed by SIGKILL");
  EXPECT_FALSE(recordExit(record, "again", clock.now(), 60s)) << "one exit counts once";
  EXPECT_EQ(record.crashCount, 1u);
}

TEST_F(ReplicaRecordTest, ExitAfterHeartbeatFailureIsNotCountedTwice) {
  probe(true);
  probe(true);
  for (int i = 0; i < 3; ++i) probe(false);
  ASSERT_EQ(record.crashCount, 1u);
  recordExit(record, "exit code 1", clock.now(), 60s);
  EXPECT_EQ(record.crashCount, 1u);
  EXPECT_EQ(record.state, ReplicaState::Stopped);
}

TEST_F(ReplicaRecordTest, DrainingReplicaStaysDrainingOnFailures) {
  probe(true);
  probe(true);
  record.state = ReplicaState::Draining;
  for (int i = 0; i < 5; ++i) probe(false);
  EXPECT_EQ(record.state, ReplicaState::Draining);
  EXPECT_FALSE(record.failed);
}

TEST(ReplicaStateMapping, OnlyReadyRoutesAndDrainingKeepsItsPoints) {
  EXPECT_EQ(toMemberState(ReplicaState::Ready), ring::MemberState::Ready);
  EXPECT_EQ(toMemberState(ReplicaState::Draining), ring::MemberState::Draining);
  EXPECT_EQ(toMemberState(ReplicaState::Starting), ring::MemberState::NotReady);
  EXPECT_EQ(toMemberState(ReplicaState::NotReady), ring::MemberState::NotReady);
  EXPECT_EQ(toMemberState(ReplicaState::Stopped), ring::MemberState::NotReady);
  EXPECT_EQ(toString(ReplicaState::Starting), "Starting");
}

}  // namespace
}  // namespace ringlb::op
