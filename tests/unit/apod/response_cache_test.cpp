#include "ringlb/apod/response_cache.h"

#include <gtest/gtest.h>

namespace ringlb::apod {
namespace {

using std::chrono::seconds;
const ResponseCache::TimePoint kT0{};

TEST(ResponseCache, StoresAndReturns) {
  ResponseCache cache{{}};
  EXPECT_FALSE(cache.get("a", kT0).has_value());
  cache.put("a", "body-a", kT0);
  EXPECT_EQ(cache.get("a", kT0 + seconds{1}), "body-a");
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(cache.bytes(), 7U);
}

TEST(ResponseCache, ExpiresAfterTtl) {
  ResponseCache cache{{.maxEntries = 10, .maxBytes = 1000, .ttl = seconds{60}}};
  cache.put("a", "x", kT0);
  EXPECT_TRUE(cache.get("a", kT0 + seconds{59}).has_value());
  EXPECT_FALSE(cache.get("a", kT0 + seconds{60}).has_value());
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_EQ(cache.bytes(), 0U);
}

TEST(ResponseCache, EvictsLeastRecentlyUsedEntry) {
  ResponseCache cache{{.maxEntries = 2, .maxBytes = 1000, .ttl = seconds{60}}};
  cache.put("a", "1", kT0);
  cache.put("b", "2", kT0);
  ASSERT_TRUE(cache.get("a", kT0).has_value());  // b is now the least recently used
  cache.put("c", "3", kT0);
  EXPECT_TRUE(cache.get("a", kT0).has_value());
  EXPECT_FALSE(cache.get("b", kT0).has_value());
  EXPECT_TRUE(cache.get("c", kT0).has_value());
  EXPECT_EQ(cache.size(), 2U);
}

TEST(ResponseCache, BoundedInBytes) {
  ResponseCache cache{{.maxEntries = 100, .maxBytes = 25, .ttl = seconds{60}}};
  cache.put("a", std::string(10, 'x'), kT0);  // 11 bytes
  cache.put("b", std::string(10, 'x'), kT0);  // 22 bytes
  cache.put("c", std::string(10, 'x'), kT0);  // would be 33: a goes
  EXPECT_LE(cache.bytes(), 25U);
  EXPECT_FALSE(cache.get("a", kT0).has_value());
  EXPECT_TRUE(cache.get("c", kT0).has_value());
  cache.put("huge", std::string(100, 'x'), kT0);  // larger than the whole cache: not stored
  EXPECT_FALSE(cache.get("huge", kT0).has_value());
  EXPECT_TRUE(cache.get("c", kT0).has_value());
}

TEST(ResponseCache, ReplacingAKeyKeepsAccountsRight) {
  ResponseCache cache{{}};
  cache.put("a", "12345", kT0);
  cache.put("a", "1", kT0);
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(cache.bytes(), 2U);
  EXPECT_EQ(cache.get("a", kT0), "1");
}

TEST(ResponseCache, ZeroEntriesDisablesCaching) {
  ResponseCache cache{{.maxEntries = 0, .maxBytes = 1000, .ttl = seconds{60}}};
  cache.put("a", "1", kT0);
  EXPECT_FALSE(cache.get("a", kT0).has_value());
}

}  // namespace
}  // namespace ringlb::apod
