#include "ringlb/operator/work_queue.h"

#include <gtest/gtest.h>

namespace ringlb::op {
namespace {

using std::chrono::milliseconds;

TEST(WorkQueueRateLimit, PerKeyBackoffDoublesFrom5msToTheCapAndResetsOnSuccess) {
  WorkQueue queue;
  const Clock::TimePoint now{std::chrono::hours(1)};
  EXPECT_EQ(queue.addRateLimited("ns/a", now), milliseconds(5));
  EXPECT_EQ(queue.addRateLimited("ns/a", now), milliseconds(10));
  EXPECT_EQ(queue.addRateLimited("ns/a", now), milliseconds(20));
  for (int i = 0; i < 20; ++i) queue.addRateLimited("ns/a", now);
  EXPECT_EQ(queue.addRateLimited("ns/a", now), milliseconds(30000));  // capped, never absent
  queue.forget("ns/a");
  EXPECT_EQ(queue.addRateLimited("ns/a", now), milliseconds(5));
  EXPECT_EQ(queue.addRateLimited("ns/b", now), milliseconds(5));  // per key
}

TEST(WorkQueueRateLimit, GlobalTokenBucketBoundsRetriesAcrossKeys) {
  WorkQueue::Options options;
  options.retriesPerSecond = 10;
  options.retryBurst = 3;
  WorkQueue queue(options);
  const Clock::TimePoint now{std::chrono::hours(1)};
  // Three first failures fit the burst: per-key backoff only.
  EXPECT_EQ(queue.addRateLimited("ns/a", now), milliseconds(5));
  EXPECT_EQ(queue.addRateLimited("ns/b", now), milliseconds(5));
  EXPECT_EQ(queue.addRateLimited("ns/c", now), milliseconds(5));
  // Then each further retry waits its turn at 10 per second.
  EXPECT_EQ(queue.addRateLimited("ns/d", now), milliseconds(100));
  EXPECT_EQ(queue.addRateLimited("ns/e", now), milliseconds(200));
  // A second later the bucket has refilled.
  EXPECT_EQ(queue.addRateLimited("ns/f", now + std::chrono::seconds(2)), milliseconds(5));
}

TEST(WorkQueueRateLimit, AKeyIsNeverHandedToTwoWorkers) {
  WorkQueue queue;
  const Clock::TimePoint now{std::chrono::hours(1)};
  queue.add("ns/a");
  queue.add("ns/a");
  auto first = queue.take(now);
  ASSERT_TRUE(first.has_value());
  queue.add("ns/a");  // changed while being processed
  EXPECT_FALSE(queue.take(now).has_value());
  queue.done("ns/a");
  EXPECT_EQ(queue.take(now), std::optional<std::string>("ns/a"));
}

}  // namespace
}  // namespace ringlb::op
