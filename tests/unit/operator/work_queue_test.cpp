#include "ringlb/operator/work_queue.h"

#include <gtest/gtest.h>

#include "ringlb/operator/testing/fake_clock.h"

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueue, DeduplicatesKeys) {
  testing::FakeClock clock;
  WorkQueue queue;
  queue.add("a");
  queue.add("b");
  queue.add("a");
  EXPECT_EQ(queue.queued(), 2u);
  EXPECT_EQ(queue.take(clock.now()), "a");
  EXPECT_EQ(queue.take(clock.now()), "b");
  EXPECT_FALSE(queue.take(clock.now()));
}

TEST(WorkQueue, KeyIsNeverHandedOutTwiceAndComesBackIfAddedWhileProcessing) {
  testing::FakeClock clock;
  WorkQueue queue;
  queue.add("a");
  ASSERT_EQ(queue.take(clock.now()), "a");
  queue.add("a");
  queue.add("a");
  EXPECT_FALSE(queue.take(clock.now())) << "a is being processed";
  queue.done("a");
  EXPECT_EQ(queue.take(clock.now()), "a") << "re-queued once when done";
  queue.done("a");
  EXPECT_FALSE(queue.take(clock.now()));
}

TEST(WorkQueue, DelayedKeysFireAtTheirTime) {
  testing::FakeClock clock;
  WorkQueue queue;
  queue.addAt("a", clock.now() + 2s);
  queue.addAt("a", clock.now() + 1s);  // earlier wins
  EXPECT_EQ(queue.nextDeadline(), clock.now() + 1s);
  EXPECT_FALSE(queue.take(clock.now()));
  clock.advance(1s);
  EXPECT_EQ(queue.take(clock.now()), "a");
  queue.done("a");
  EXPECT_FALSE(queue.nextDeadline());
}

TEST(WorkQueue, FailuresBackOffExponentiallyUpToTheCapAndForgetResets) {
  testing::FakeClock clock;
  WorkQueue queue(WorkQueue::Options{5ms, 100ms});
  std::vector<Clock::Duration> delays;
  for (int i = 0; i < 7; ++i) {
    delays.push_back(queue.addRateLimited("a", clock.now()));
    EXPECT_FALSE(queue.take(clock.now()));
    clock.advance(delays.back());
    ASSERT_EQ(queue.take(clock.now()), "a");
    queue.done("a");
  }
  EXPECT_EQ(delays, (std::vector<Clock::Duration>{5ms, 10ms, 20ms, 40ms, 80ms, 100ms, 100ms}));
  EXPECT_EQ(queue.failures("a"), 7u);
  queue.forget("a");
  EXPECT_EQ(queue.addRateLimited("a", clock.now()), 5ms);
}

TEST(WorkQueue, ImmediateAddSupersedesAPendingDelay) {
  testing::FakeClock clock;
  WorkQueue queue;
  queue.addAt("a", clock.now() + 10s);
  queue.add("a");
  EXPECT_EQ(queue.take(clock.now()), "a");
  queue.done("a");
  EXPECT_FALSE(queue.nextDeadline());
}

}  // namespace
}  // namespace ringlb::op
