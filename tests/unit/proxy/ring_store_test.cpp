#include "ring_store.h"

#include <gtest/gtest.h>

#include <memory>

namespace ringlb::proxy {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

TEST(RingStoreTest, StalenessIsMinusOneBeforeAnyRing) {
  RingStore store;
  EXPECT_EQ(store.stalenessSeconds(10 * kSecond), -1);
}

TEST(RingStoreTest, StalenessCountsFromTheLastConfirmation) {
  RingStore store;
  store.publish(std::make_shared<RoutingTable>());
  store.confirm(10 * kSecond);
  EXPECT_DOUBLE_EQ(store.stalenessSeconds(13 * kSecond), 3.0);
}

TEST(RingStoreTest, AnOpenWatchIsFreshOnlyUntilItIsDue) {
  RingStore store;
  store.publish(std::make_shared<RoutingTable>());
  store.confirm(10 * kSecond);
  // A long poll sent at 10 s that the source promised to answer by 42 s.
  store.watchOpened(42 * kSecond);
  EXPECT_EQ(store.stalenessSeconds(20 * kSecond), 0);
  EXPECT_EQ(store.stalenessSeconds(42 * kSecond), 0);
  // Overdue (a blackholed operator never answers): the time since the last confirmation.
  EXPECT_DOUBLE_EQ(store.stalenessSeconds(50 * kSecond), 40.0);
  store.watchClosed();
  EXPECT_DOUBLE_EQ(store.stalenessSeconds(51 * kSecond), 41.0);
}

TEST(RingStoreTest, StaticRingsNeverGoStale) {
  RingStore store;
  store.publish(std::make_shared<RoutingTable>());
  store.setStatic();
  EXPECT_EQ(store.stalenessSeconds(1000 * kSecond), 0);
}

}  // namespace
}  // namespace ringlb::proxy
