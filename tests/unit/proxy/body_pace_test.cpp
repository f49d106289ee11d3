// The slow-body guard: how long each read of a request body may wait.
#include "body_pace.h"

#include <gtest/gtest.h>

namespace ringlb::proxy {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kIdle{3000};

TEST(BodyReadTimeout, WithoutARateEveryReadGetsTheIdleTimeout) {
  EXPECT_EQ(bodyReadTimeout(kIdle, 0, 0, seconds(3600)), kIdle);
}

TEST(BodyReadTimeout, TheFirstReadGetsTheIdleTimeoutAsGrace) {
  EXPECT_EQ(bodyReadTimeout(kIdle, 500, 0, seconds(0)), kIdle);
}

TEST(BodyReadTimeout, ATrickleRunsOutOfEarnedTime) {
  // 10 bytes at 500 B/s earn 20 ms beyond the grace; 2.5 s already waited.
  EXPECT_EQ(bodyReadTimeout(kIdle, 500, 10, milliseconds(2500)), milliseconds(520));
  EXPECT_EQ(bodyReadTimeout(kIdle, 500, 10, milliseconds(3020)), milliseconds(0));
  EXPECT_EQ(bodyReadTimeout(kIdle, 500, 10, seconds(60)), milliseconds(0));
}

TEST(BodyReadTimeout, AClientAboveTheRateKeepsTheFullIdleTimeout) {
  // 1 MB at 500 B/s earns 2,097 s; 100 s waited leaves far more than one idle timeout.
  EXPECT_EQ(bodyReadTimeout(kIdle, 500, 1 << 20, seconds(100)), kIdle);
}

TEST(BodyReadTimeout, EarnedTimeIsExactForRatesThatDoNotDivideTheBytes) {
  // 1,000 bytes at 3 B/s earn 333.333 s: 333,333 ms.
  EXPECT_EQ(bodyReadTimeout(kIdle, 3, 1000, milliseconds(3000 + 333'000)), milliseconds(333));
}

TEST(BodyReadTimeout, HugeBodiesDoNotOverflow) {
  EXPECT_EQ(bodyReadTimeout(kIdle, 1, std::uint64_t{1} << 40, seconds(1)), kIdle);
}

}  // namespace
}  // namespace ringlb::proxy
