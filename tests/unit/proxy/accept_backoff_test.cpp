// The acceptor's policy when accept() fails: pause, count, log once per burst.
#include "accept_backoff.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace ringlb::proxy {
namespace {

using std::chrono::milliseconds;

TEST(AcceptBackoff, OutOfDescriptorsPausesDoublingUpToTheCap) {
  AcceptBackoff backoff;
  const milliseconds expected[] = {milliseconds(10), milliseconds(20), milliseconds(40), milliseconds(80),
                                   milliseconds(100), milliseconds(100)};
  for (const auto pause : expected) {
    const auto step = backoff.onFailure(EMFILE);
    EXPECT_EQ(step.pause, pause);
    EXPECT_TRUE(step.fdLimit);
  }
}

TEST(AcceptBackoff, LogsOnlyTheFirstFailureOfABurst) {
  AcceptBackoff backoff;
  EXPECT_TRUE(backoff.onFailure(EMFILE).logIt);
  EXPECT_FALSE(backoff.onFailure(EMFILE).logIt);
  EXPECT_FALSE(backoff.onFailure(ENFILE).logIt);
  EXPECT_EQ(backoff.onSuccess(), 3u);
  EXPECT_EQ(backoff.onSuccess(), 0u) << "a success without failures before it ends no burst";
  EXPECT_TRUE(backoff.onFailure(EMFILE).logIt) << "a new burst logs again";
}

TEST(AcceptBackoff, SuccessResetsThePause) {
  AcceptBackoff backoff;
  backoff.onFailure(EMFILE);
  backoff.onFailure(EMFILE);
  backoff.onSuccess();
  EXPECT_EQ(backoff.onFailure(EMFILE).pause, AcceptBackoff::kFirstPause);
}

TEST(AcceptBackoff, SystemWideDescriptorLimitCountsAsFdLimit) {
  AcceptBackoff backoff;
  EXPECT_TRUE(backoff.onFailure(ENFILE).fdLimit);
}

TEST(AcceptBackoff, KernelMemoryShortageBacksOffWithoutCountingAnFdRefusal) {
  AcceptBackoff backoff;
  const auto first = backoff.onFailure(ENOBUFS);
  EXPECT_FALSE(first.fdLimit);
  EXPECT_EQ(first.pause, milliseconds(10));
  EXPECT_EQ(backoff.onFailure(ENOMEM).pause, milliseconds(20));
}

TEST(AcceptBackoff, AConnectionTheClientAbandonedNeedsNoPause) {
  AcceptBackoff backoff;
  for (const int error : {ECONNABORTED, EPROTO}) {
    const auto step = backoff.onFailure(error);
    EXPECT_EQ(step.pause, milliseconds(0));
    EXPECT_FALSE(step.fdLimit);
    EXPECT_FALSE(step.logIt);
  }
  EXPECT_EQ(backoff.onSuccess(), 0u) << "not a burst of failures";
}

TEST(AcceptBackoff, AnUnknownErrorPausesBrieflyEveryTime) {
  AcceptBackoff backoff;
  EXPECT_EQ(backoff.onFailure(EINVAL).pause, AcceptBackoff::kFirstPause);
  EXPECT_EQ(backoff.onFailure(EINVAL).pause, AcceptBackoff::kFirstPause);
  EXPECT_FALSE(backoff.onFailure(EINVAL).fdLimit);
}

}  // namespace
}  // namespace ringlb::proxy
