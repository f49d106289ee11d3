#include "health_registry.h"

#include <algorithm>

namespace ringlb::proxy {

bool MemberHealth::recordFailure(std::int64_t nowNanos, const EjectionPolicy& policy) noexcept {
  if (policy.consecutiveFailures == 0) return false;
  const auto streak = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (streak < policy.consecutiveFailures) return false;
  auto until = ejectedUntil_.load(std::memory_order_relaxed);
  if (until > nowNanos) return false;
  const auto recent = std::min<std::uint32_t>(recentEjections_.load(std::memory_order_relaxed), 30);
  std::int64_t duration = policy.baseNanos;
  for (std::uint32_t i = 0; i < recent && duration < policy.maxNanos; ++i) duration *= 2;
  duration = std::min(duration, policy.maxNanos);
  // Several workers may cross the threshold together; one of them ejects.
  if (!ejectedUntil_.compare_exchange_strong(until, nowNanos + duration, std::memory_order_relaxed)) return false;
  consecutive_.store(0, std::memory_order_relaxed);
  recentEjections_.store(recent + 1, std::memory_order_relaxed);
  ejectionsTotal_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::shared_ptr<MemberHealth> HealthRegistry::get(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto& slot = members_[id];
  if (!slot) slot = std::make_shared<MemberHealth>(id);
  return slot;
}

std::vector<std::shared_ptr<MemberHealth>> HealthRegistry::all() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<MemberHealth>> out;
  out.reserve(members_.size());
  for (const auto& [id, health] : members_) out.push_back(health);
  return out;
}

}  // namespace ringlb::proxy
