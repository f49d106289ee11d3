#include "ringlb/operator/status_writer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;

// A source whose writes can be held (a hung API server) and made to fail.
class RecordingSource final : public ResourceSource {
 public:
  void start(EventHandler) override {}
  void stop() override {}
  Status writeStatus(const HashRing& ring, const HashRingStatus& status) override {
    std::unique_lock lock(mutex_);
    ++started_;
    changed_.notify_all();
    changed_.wait_for(lock, 5s, [this] { return !holding_; });
    written_.emplace_back(ring.key(), status.observedGeneration);
    if (failNext_) {
      Error error = *failNext_;
      failNext_.reset();
      return error;
    }
    return ok();
  }

  void hold(bool on) {
    {
      std::lock_guard lock(mutex_);
      holding_ = on;
    }
    changed_.notify_all();
  }
  void failNext(Error error) {
    std::lock_guard lock(mutex_);
    failNext_ = std::move(error);
  }
  bool waitStarted(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return started_ >= count; });
  }
  std::vector<std::pair<std::string, std::int64_t>> written() {
    std::lock_guard lock(mutex_);
    return written_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool holding_ = false;
  int started_ = 0;
  std::optional<Error> failNext_;
  std::vector<std::pair<std::string, std::int64_t>> written_;
};

HashRing ringNamed(const std::string& name) {
  HashRing ring;
  ring.metadata.name = name;
  return ring;
}

HashRingStatus generation(std::int64_t value) {
  HashRingStatus status;
  status.observedGeneration = value;
  return status;
}

TEST(StatusWriter, SubmitNeverWaitsForAHungWriteAndTheLatestStatusWins) {
  RecordingSource source;
  StatusWriter writer(source, {});
  source.hold(true);
  writer.submit(ringNamed("a"), generation(1));
  ASSERT_TRUE(source.waitStarted(1));
  // The write of generation 1 hangs; these return at once and coalesce.
  const auto began = std::chrono::steady_clock::now();
  writer.submit(ringNamed("a"), generation(2));
  writer.submit(ringNamed("b"), generation(1));
  writer.submit(ringNamed("a"), generation(3));
  EXPECT_LT(std::chrono::steady_clock::now() - began, 1s);
  source.hold(false);
  writer.stop();  // writes what is pending
  const std::vector<std::pair<std::string, std::int64_t>> expected{
      {"default/a", 1}, {"default/a", 3}, {"default/b", 1}};
  auto written = source.written();
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[0], expected[0]);
  // Rings take turns in the order they became pending: a (again) first, then b.
  EXPECT_EQ(written[1], expected[1]);
  EXPECT_EQ(written[2], expected[2]);
}

TEST(StatusWriter, AFailureIsReportedWithItsKind) {
  RecordingSource source;
  std::mutex mutex;
  std::condition_variable reported;
  std::vector<std::pair<std::string, ErrorKind>> failures;
  StatusWriter writer(source, [&](const std::string& key, const Error& error) {
    std::lock_guard lock(mutex);
    failures.emplace_back(key, error.kind);
    reported.notify_all();
  });
  source.failNext(Error::conflict("write status of HashRing default/a: conflict (HTTP 409), will retry: x"));
  writer.submit(ringNamed("a"), generation(1));
  std::unique_lock lock(mutex);
  ASSERT_TRUE(reported.wait_for(lock, 5s, [&] { return !failures.empty(); }));
  EXPECT_EQ(failures[0].first, "default/a");
  EXPECT_EQ(failures[0].second, ErrorKind::Conflict);
}

TEST(StatusWriter, NothingIsWrittenAfterStop) {
  RecordingSource source;
  StatusWriter writer(source, {});
  writer.stop();
  writer.submit(ringNamed("a"), generation(1));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(source.written().empty());
}

}  // namespace
}  // namespace ringlb::op
