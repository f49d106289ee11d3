#include "ringlb/apod/response_cache.h"

namespace ringlb::apod {

std::optional<std::string> ResponseCache::get(const std::string& key, TimePoint now) {
  const std::lock_guard lock{mutex_};
  const auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  const auto it = found->second;
  if (now - it->stored >= limits_.ttl) {
    eraseLocked(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);
  return it->body;
}

void ResponseCache::put(const std::string& key, std::string body, TimePoint now) {
  const std::size_t cost = key.size() + body.size();
  const std::lock_guard lock{mutex_};
  if (const auto found = index_.find(key); found != index_.end()) eraseLocked(found->second);
  if (cost > limits_.maxBytes || limits_.maxEntries == 0) return;
  while (!lru_.empty() && (lru_.size() + 1 > limits_.maxEntries || bytes_ + cost > limits_.maxBytes)) {
    eraseLocked(std::prev(lru_.end()));
  }
  lru_.push_front(Entry{key, std::move(body), now});
  index_.emplace(key, lru_.begin());
  bytes_ += cost;
}

std::size_t ResponseCache::size() const {
  const std::lock_guard lock{mutex_};
  return lru_.size();
}

std::size_t ResponseCache::bytes() const {
  const std::lock_guard lock{mutex_};
  return bytes_;
}

void ResponseCache::eraseLocked(std::list<Entry>::iterator it) {
  bytes_ -= it->key.size() + it->body.size();
  index_.erase(it->key);
  lru_.erase(it);
}

}  // namespace ringlb::apod
