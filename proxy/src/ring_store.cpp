#include "ring_store.h"

namespace ringlb::proxy {

void RingStore::publish(std::shared_ptr<RoutingTable> table) {
  std::lock_guard lock(mutex_);
  const auto next = generation_.load(std::memory_order_relaxed) + 1;
  table->generation = next;
  table_ = std::move(table);
  generation_.store(next, std::memory_order_release);
}

std::shared_ptr<const RoutingTable> RingStore::current() const {
  std::lock_guard lock(mutex_);
  return table_;
}

double RingStore::stalenessSeconds(std::int64_t nowNanos) const noexcept {
  if (generation() == 0) return -1;
  if (static_.load(std::memory_order_relaxed)) return 0;
  const auto due = watchDueAt_.load(std::memory_order_relaxed);
  if (due != 0 && nowNanos <= due) return 0;
  const auto confirmed = confirmedAt_.load(std::memory_order_relaxed);
  return nowNanos > confirmed ? static_cast<double>(nowNanos - confirmed) / 1e9 : 0.0;
}

}  // namespace ringlb::proxy
