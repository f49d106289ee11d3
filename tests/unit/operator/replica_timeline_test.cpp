#include "ringlb/operator/replica_timeline.h"

#include <gtest/gtest.h>

#include "ringlb/operator/testing/fake_clock.h"

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;
using Kind = TimelineEvent::Kind;

// Wall clock 1,700,000,000,000 ms at the fake clock's start; both move together.
class ReplicaTimelineTest : public ::testing::Test {
 protected:
  std::int64_t wall() const {
    return 1'700'000'000'000 + std::chrono::duration_cast<std::chrono::milliseconds>(clock.now() - start).count();
  }
  ReplicaRecord& ready(const std::string& slot, const std::string& runtimeId, const std::string& specHash = "h1") {
    ReplicaRecord& r = records[slot];
    r.slot = slot;
    r.state = ReplicaState::Ready;
    r.running = true;
    r.runtimeId = runtimeId;
    r.specHash = specHash;
    r.startedAt = clock.now();
    r.readySince = clock.now();
    return r;
  }
  void observe() { timeline.observe(records, clock.now(), wall()); }
  std::vector<Kind> kinds() const {
    std::vector<Kind> out;
    for (const auto& e : timeline.events()) out.push_back(e.kind);
    return out;
  }

  testing::FakeClock clock;
  Clock::TimePoint start = clock.now();
  std::map<std::string, ReplicaRecord> records;
  ReplicaTimeline timeline;
};

TEST_F(ReplicaTimelineTest, TheFirstObservationIsTheStartingPointNotAScaleStep) {
  ready("apod-0", "100:1");
  ready("apod-1", "101:1");
  observe();
  EXPECT_TRUE(timeline.events().empty());
  clock.advance(1s);
  ready("apod-2", "102:1");
  observe();
  ASSERT_EQ(kinds(), std::vector<Kind>{Kind::Added});
  EXPECT_EQ(timeline.events()[0].member, "apod-2");
  records.erase("apod-0");
  observe();
  EXPECT_EQ(kinds(), (std::vector<Kind>{Kind::Added, Kind::Removed}));
}

// A SIGKILLed replica is replaced faster than any poll: the controller may
// never be observed with the slot NotReady. The record's failedAt, restart
// count and readySince still give the failure and the outage's exact length.
TEST_F(ReplicaTimelineTest, AnOutageShorterThanAnyObservationIsRecordedWithItsLength) {
  ready("apod-0", "100:1");
  observe();
  clock.advance(10s);
  const auto failedAt = clock.now();
  ReplicaRecord& r = records["apod-0"];
  r.failedAt = failedAt;
  r.lastFailure = "exited: killed by signal 9";
  r.restarts = 1;
  r.runtimeId = "200:1";
  clock.advance(312ms);
  r.state = ReplicaState::Ready;
  r.readySince = clock.now();
  clock.advance(500ms);
  observe();
  ASSERT_EQ(kinds(), (std::vector<Kind>{Kind::Failed, Kind::Replaced, Kind::Recovered}));
  const auto& failed = timeline.events()[0];
  EXPECT_EQ(failed.unixMillis, 1'700'000'010'000);
  EXPECT_EQ(failed.detail, "exited: killed by signal 9");
  ASSERT_TRUE(failed.outageMillis.has_value());
  EXPECT_EQ(*failed.outageMillis, 312);
  EXPECT_EQ(timeline.events()[2].unixMillis, 1'700'000'010'312);
  EXPECT_EQ(timeline.events()[2].outageMillis, 312);
  EXPECT_EQ(timeline.outageSince("apod-0"), std::nullopt);
}

TEST_F(ReplicaTimelineTest, AnOpenOutageHasNoLengthUntilTheSlotIsReadyAgain) {
  ready("apod-0", "100:1");
  observe();
  clock.advance(2s);
  ReplicaRecord& r = records["apod-0"];
  r.state = ReplicaState::NotReady;
  r.failedAt = clock.now();
  r.readySince.reset();
  observe();
  ASSERT_EQ(kinds(), std::vector<Kind>{Kind::Failed});
  EXPECT_FALSE(timeline.events()[0].outageMillis.has_value());
  EXPECT_EQ(timeline.outageSince("apod-0"), 1'700'000'002'000);
  clock.advance(3s);
  observe();
  EXPECT_EQ(timeline.events().size(), 1u) << "nothing new happened";
  r.state = ReplicaState::Ready;
  r.readySince = clock.now();
  observe();
  EXPECT_EQ(timeline.events()[0].outageMillis, 3000);
}

TEST_F(ReplicaTimelineTest, RepeatedFailuresCountTowardsFlapping) {
  ready("apod-0", "100:1");
  observe();
  ReplicaRecord& r = records["apod-0"];
  for (int i = 0; i < 3; ++i) {
    clock.advance(20s);
    r.failedAt = clock.now();
    ++r.restarts;
    clock.advance(1s);
    r.readySince = clock.now();
    observe();
  }
  EXPECT_EQ(timeline.failuresSince("apod-0", wall() - 60'000), 3u);
  EXPECT_EQ(timeline.failuresSince("apod-0", wall() - 30'000), 2u);  // at 41 s and 62 s, now 63 s
  EXPECT_EQ(timeline.failuresSince("apod-0", wall() - 15'000), 1u);
  EXPECT_EQ(timeline.failuresSince("apod-1", 0), 0u);
}

TEST_F(ReplicaTimelineTest, ANewTemplateWithoutAFailureIsARolloutStep) {
  ready("apod-0", "100:1", "h1");
  observe();
  clock.advance(1s);
  ready("apod-0", "300:1", "h2");
  observe();
  ASSERT_EQ(kinds(), std::vector<Kind>{Kind::RolledOut});
  EXPECT_EQ(timeline.events()[0].detail, "new template, now 300:1");
}

TEST_F(ReplicaTimelineTest, KeepsOnlyTheNewestEventsAndStillClosesAnOutage) {
  ReplicaTimeline small(2);
  ready("apod-0", "100:1");
  small.observe(records, clock.now(), wall());
  ReplicaRecord& r = records["apod-0"];
  r.failedAt = clock.now();
  r.state = ReplicaState::NotReady;
  small.observe(records, clock.now(), wall());
  for (int i = 1; i <= 3; ++i) {
    ready("apod-" + std::to_string(i), "10" + std::to_string(i) + ":1");
    small.observe(records, clock.now(), wall());
  }
  ASSERT_EQ(small.events().size(), 2u);
  EXPECT_EQ(small.events().back().member, "apod-3");
  clock.advance(1s);
  r.state = ReplicaState::Ready;
  r.readySince = clock.now();
  small.observe(records, clock.now(), wall());
  EXPECT_EQ(small.events().back().kind, Kind::Recovered) << "the dropped Failed event is not written to";
  EXPECT_EQ(small.events().back().outageMillis, 1000);
}

}  // namespace
}  // namespace ringlb::op
