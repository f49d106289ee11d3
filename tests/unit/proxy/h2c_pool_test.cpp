// How a worker's h2c connections to one member are shared: streams go to a
// connection with room, a new one opens only when every connection is full,
// and connections leave the pool when they die, idle out or retire.
#include "h2c_upstream.h"

#include <gtest/gtest.h>

#include "test_net.h"

namespace ringlb::proxy {
namespace {

using Connection = H2cUpstreamConnection<TestNet>;

TEST(H2cPool, StreamsShareAConnectionUntilItIsFull) {
  asio::io_context ioc;
  UpstreamGroup<TestNet> group;
  bool isNew = false;
  const auto first = reserveH2c(ioc, group, isNew);
  EXPECT_TRUE(isNew);
  // Until the member's SETTINGS arrive, 100 streams (RFC 9113 §6.5.2's floor) share one connection,
  // including while it still connects.
  EXPECT_EQ(first->streamLimit(), 100u);
  for (int i = 1; i < 100; ++i) {
    EXPECT_EQ(reserveH2c(ioc, group, isNew), first);
    EXPECT_FALSE(isNew);
  }
  const auto second = reserveH2c(ioc, group, isNew);
  EXPECT_TRUE(isNew) << "the 101st stream opens another connection";
  EXPECT_NE(second, first);
  EXPECT_EQ(group.h2c.size(), 2u);
  first->release();
  EXPECT_EQ(reserveH2c(ioc, group, isNew), first) << "a freed stream slot is used before the newer connection";
}

TEST(H2cPool, ARetiredConnectionTakesNoNewStreamAndLeavesThePool) {
  asio::io_context ioc;
  UpstreamGroup<TestNet> group;
  bool isNew = false;
  const auto busy = reserveH2c(ioc, group, isNew);
  retireH2c(group);
  EXPECT_TRUE(group.h2c.empty());
  EXPECT_FALSE(busy->hasRoom());
  const auto next = reserveH2c(ioc, group, isNew);
  EXPECT_TRUE(isNew);
  EXPECT_NE(next, busy);
}

TEST(H2cPool, OnlyConnectionsIdleLongEnoughAreClosed) {
  asio::io_context ioc;
  UpstreamGroup<TestNet> group;
  bool isNew = false;
  const auto connection = reserveH2c(ioc, group, isNew);
  closeIdleH2c(group, coarseNanos() + 1'000'000'000'000, 1);
  EXPECT_EQ(group.h2c.size(), 1u) << "a connection still connecting, with a stream, stays";
}

}  // namespace
}  // namespace ringlb::proxy
