#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace ringlb::apod {

/// Bounds of the upstream response cache.
struct ResponseCacheLimits {
  std::size_t maxEntries = 1024;
  std::size_t maxBytes = 64U << 20;  // sum of key and body sizes
  std::chrono::seconds ttl{3600};    // the latest APOD changes daily, so nothing is kept forever
};

/// A least-recently-used cache of upstream bodies, bounded in entries and bytes, with a TTL.
/// Time is passed in, so tests need no clock. Thread-safe (one mutex; lookups are rare next to
/// the upstream round trip they save).
class ResponseCache {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit ResponseCache(ResponseCacheLimits limits) : limits_{limits} {}

  /// The body stored under `key` if it is younger than the TTL at `now`; refreshes its recency.
  std::optional<std::string> get(const std::string& key, TimePoint now);

  /// Stores `body` under `key` at `now`, evicting least recently used entries to stay within
  /// bounds. A body larger than maxBytes on its own is not stored.
  void put(const std::string& key, std::string body, TimePoint now);

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::size_t bytes() const;

 private:
  struct Entry {
    std::string key;
    std::string body;
    TimePoint stored;
  };
  void eraseLocked(std::list<Entry>::iterator it);

  ResponseCacheLimits limits_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::size_t bytes_ = 0;
};

}  // namespace ringlb::apod
