#include "hot_key_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "health_registry.h"
#include "member_picker.h"
#include "ringlb/ring/hash.h"

namespace ringlb::proxy {
namespace {

std::uint64_t keyHash(std::uint64_t i) { return ring::hashKey("/key/" + std::to_string(i)); }

TEST(HotKeySketch, OffCountsNothing) {
  HotKeySketch sketch({});
  EXPECT_FALSE(sketch.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sketch.observe(keyHash(1)), 1u);
  EXPECT_FALSE(sketch.hot(keyHash(1)));
}

TEST(HotKeySketch, NothingIsHotBeforeTheWindowHoldsEnoughRequests) {
  HotKeySketch sketch({0.05, 3, 8192});
  for (int i = 0; i < 159; ++i) EXPECT_EQ(sketch.observe(keyHash(i % 2 == 0 ? 0 : 1 + i)), 1u) << i;
  EXPECT_EQ(sketch.observe(keyHash(0)), 3u);  // 8 / 0.05 = 160 requests counted
}

TEST(HotKeySketch, AKeyAboveTheShareIsHotAndTheTailIsNot) {
  HotKeySketch sketch({0.02, 3, 8192});
  std::mt19937_64 random(3);
  std::uint32_t hotSpread = 0;
  for (int i = 0; i < 50'000; ++i) {
    // One request in 20 (5%) is /key/0; the rest spread over 20,000 keys (0.005% each).
    const bool heavy = i % 20 == 0;
    const auto spread = sketch.observe(keyHash(heavy ? 0 : 1 + random() % 20'000));
    if (heavy) hotSpread = spread;
  }
  EXPECT_TRUE(sketch.hot(keyHash(0)));
  EXPECT_EQ(hotSpread, 3u);
  int falseHot = 0;
  for (std::uint64_t k = 1; k <= 20'000; ++k) falseHot += sketch.hot(keyHash(k)) ? 1 : 0;
  EXPECT_EQ(falseHot, 0);
}

TEST(HotKeySketch, AKeyCoolsDownOnceItsShareDrops) {
  HotKeySketch sketch({0.02, 2, 2048});
  for (int i = 0; i < 4096; ++i) sketch.observe(keyHash(i % 2 == 0 ? 0 : 1 + i));
  ASSERT_TRUE(sketch.hot(keyHash(0)));
  // It stops: within a few halvings its count falls below 2% of the window.
  int requests = 0;
  while (sketch.hot(keyHash(0)) && requests < 100'000) sketch.observe(keyHash(10'000'000 + requests++));
  EXPECT_FALSE(sketch.hot(keyHash(0)));
  EXPECT_LT(requests, 8 * 2048) << "hot for " << requests << " requests after it stopped";
}

// Zipf(1.1) over 100,000 keys on 10 members: the peak member's requests over the mean.
double peakOverMean(ring::Algorithm algorithm, HotKeySketch::Options options) {
  ring::RingSpec spec;
  spec.name = "zipf";
  spec.version = 1;
  spec.algorithm = algorithm;
  spec.capacity = 32;
  for (int i = 0; i < 10; ++i) spec.members.push_back({"m-" + std::to_string(i), "127.0.0.1:1", 1, ring::MemberState::Ready});
  HealthRegistry health;
  const auto table = buildRoutingTable(spec, std::nullopt, health, "zipf").value();

  constexpr int kKeys = 100'000;
  std::vector<double> cdf(kKeys);
  double sum = 0;
  for (int i = 0; i < kKeys; ++i) cdf[i] = sum += std::pow(i + 1.0, -1.1);
  std::vector<std::uint64_t> hashes(kKeys);
  for (int i = 0; i < kKeys; ++i) hashes[i] = keyHash(i);

  HotKeySketch sketch(options);
  std::mt19937_64 random(11);
  std::uniform_real_distribution<double> uniform(0.0, sum);
  std::vector<std::uint64_t> served(10, 0);
  std::uint32_t rotation = 0;
  constexpr int kRequests = 200'000;
  for (int r = 0; r < kRequests; ++r) {
    const auto key = std::lower_bound(cdf.begin(), cdf.end(), uniform(random)) - cdf.begin();
    const std::uint64_t hash = hashes[std::min<std::ptrdiff_t>(key, kKeys - 1)];
    const std::uint32_t spread = sketch.observe(hash);
    const std::uint32_t rank = spread > 1 ? rotation++ % spread : 0;
    ++served[pickMember(*table, hash, {}, nullptr, 0, rank)->index];
  }
  return static_cast<double>(*std::max_element(served.begin(), served.end())) / (kRequests / 10.0);
}

class HotKeySpreading : public ::testing::TestWithParam<ring::Algorithm> {};

TEST_P(HotKeySpreading, ZipfPeakOverMeanWithSpreadingOnIsAtMostOnePointThree) {
  const double off = peakOverMean(GetParam(), {});
  const double on = peakOverMean(GetParam(), {0.01, 8, 8192});
  std::printf("zipf(1.1), 100k keys, 10 members, %s: peak/mean off %.3f, on (share 1%%, spread 8) %.3f\n",
              std::string(ring::toString(GetParam())).c_str(), off, on);
  EXPECT_GT(off, 1.5) << "Zipf(1.1)'s top key alone holds 13% of requests";
  EXPECT_LE(on, 1.3);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, HotKeySpreading,
                         ::testing::Values(ring::Algorithm::Ring, ring::Algorithm::Maglev, ring::Algorithm::Anchor),
                         [](const auto& p) { return std::string(ring::toString(p.param)); });

}  // namespace
}  // namespace ringlb::proxy
