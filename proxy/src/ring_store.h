#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "routing_table.h"

namespace ringlb::proxy {

/// The routing table in force, published as an immutable snapshot with a
/// generation number. Workers compare `generation()` (one atomic load) on
/// each request and call `current()` (which locks) only when it moved, as
/// Envoy's workers do; libstdc++'s atomic<shared_ptr> is not lock-free.
/// Also records how fresh the ring source is, for the staleness metric.
class RingStore {
 public:
  /// Makes `table` current and bumps the generation. Thread-safe.
  void publish(std::shared_ptr<RoutingTable> table);

  /// Generation of the current table; 0 before the first publish. Lock-free.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  /// The current table, or nullptr. Takes a lock; not for the request path.
  std::shared_ptr<const RoutingTable> current() const;

  /// The ring source confirmed the ring is current at `nanos` (monotonic).
  void confirm(std::int64_t nanos) noexcept { confirmedAt_.store(nanos, std::memory_order_relaxed); }
  /// A long-poll watch was sent and the source promised to answer by `dueNanos`
  /// (monotonic): the ring counts as fresh until then. Thread-safe.
  void watchOpened(std::int64_t dueNanos) noexcept { watchDueAt_.store(dueNanos, std::memory_order_relaxed); }
  /// The watch was answered or abandoned. Thread-safe.
  void watchClosed() noexcept { watchDueAt_.store(0, std::memory_order_relaxed); }
  /// Static sources never go stale.
  void setStatic() noexcept { static_.store(true, std::memory_order_relaxed); }

  /// Seconds since the source last confirmed the ring: 0 for static rings and
  /// while an open watch is within its promised time (a source that stops
  /// answering, e.g. behind a blackhole, goes stale once the watch is overdue);
  /// -1 before any ring arrived. Thread-safe.
  double stalenessSeconds(std::int64_t nowNanos) const noexcept;

  void countApplied() noexcept { applied_.fetch_add(1, std::memory_order_relaxed); }
  void countRejected() noexcept { rejected_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t applied() const noexcept { return applied_.load(std::memory_order_relaxed); }
  std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RoutingTable> table_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::int64_t> confirmedAt_{0};
  std::atomic<std::int64_t> watchDueAt_{0};  // 0: no watch open
  std::atomic<bool> static_{false};
  std::atomic<std::uint64_t> applied_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

}  // namespace ringlb::proxy
