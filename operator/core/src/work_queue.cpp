#include "ringlb/operator/work_queue.h"

#include <algorithm>

namespace ringlb::op {

void WorkQueue::add(const std::string& key) {
  if (dirty_.count(key)) return;
  dirty_.insert(key);
  delayed_.erase(key);  // running now supersedes a later wake-up
  if (!processing_.count(key)) queue_.push_back(key);
}

void WorkQueue::addAt(const std::string& key, Clock::TimePoint when) {
  if (dirty_.count(key)) return;  // already due now
  const auto it = delayed_.find(key);
  if (it == delayed_.end() || when < it->second) delayed_[key] = when;
}

Clock::Duration WorkQueue::addRateLimited(const std::string& key, Clock::TimePoint now) {
  const std::uint32_t count = failures_[key]++;
  const std::uint32_t doublings = std::min<std::uint32_t>(count, 30);
  const Clock::Duration perKey =
      std::min<Clock::Duration>(options_.backoffBase * (std::int64_t{1} << doublings), options_.backoffCap);
  const Clock::Duration delay = std::max(perKey, retryBudget_.reserve(now));
  addAt(key, now + delay);
  return delay;
}

void WorkQueue::forget(const std::string& key) { failures_.erase(key); }

void WorkQueue::promote(Clock::TimePoint now) {
  for (auto it = delayed_.begin(); it != delayed_.end();) {
    if (it->second <= now) {
      const std::string key = it->first;
      it = delayed_.erase(it);
      add(key);
    } else {
      ++it;
    }
  }
}

std::optional<std::string> WorkQueue::take(Clock::TimePoint now) {
  promote(now);
  if (queue_.empty()) return std::nullopt;
  std::string key = queue_.front();
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

void WorkQueue::done(const std::string& key) {
  processing_.erase(key);
  if (dirty_.count(key)) queue_.push_back(key);
}

std::optional<Clock::TimePoint> WorkQueue::nextDeadline() const {
  std::optional<Clock::TimePoint> earliest;
  for (const auto& [key, when] : delayed_) {
    if (!earliest || when < *earliest) earliest = when;
  }
  return earliest;
}

std::uint32_t WorkQueue::failures(const std::string& key) const {
  const auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

}  // namespace ringlb::op
