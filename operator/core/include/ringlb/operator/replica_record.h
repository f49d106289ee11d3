#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ringlb/operator/clock.h"
#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/runtime.h"

namespace ringlb::op {

/// What the operator has observed about one slot: the replica running in it,
/// its heartbeat verdict, and its failure history. Plain data; the functions
/// below are its only transitions, so every state change is pure and
/// testable in simulated time.
struct ReplicaRecord {
  std::string slot;
  std::uint32_t ordinal = 0;
  ReplicaState state = ReplicaState::Starting;
  bool running = false;  // the runtime reports the replica's process/container alive
  bool failed = false;   // failed its heartbeat threshold or died: due for replacement
  std::string address;
  std::string runtimeId;
  std::string specHash;
  std::uint32_t restarts = 0;
  std::string lastFailure;
  std::uint32_t crashCount = 0;  // failures since the last stable run; drives the restart backoff
  std::optional<Clock::TimePoint> failedAt;
  std::optional<Clock::TimePoint> absentSince;  // the first failure since the slot last became Ready (slow start)
  std::optional<Clock::TimePoint> startedAt;
  std::optional<Clock::TimePoint> readySince;
  std::optional<Clock::TimePoint> drainSince;
  std::uint32_t consecutiveFailures = 0;
  std::uint32_t consecutiveSuccesses = 0;
  bool healthy = false;  // last threshold verdict, kept across a drain that is cancelled

  friend bool operator==(const ReplicaRecord&, const ReplicaRecord&) = default;
};

/// A replica (new or replacement) now runs in the slot: Starting until its
/// heartbeat passes successThreshold times.
void recordStarted(ReplicaRecord& record, const ReplicaInfo& info, Clock::TimePoint now);

/// Applies one heartbeat result. A Starting or NotReady replica becomes Ready
/// after successThreshold successes; a Starting or Ready one becomes NotReady
/// and failed after failureThreshold failures. Returns true when `state` changed.
bool recordProbe(ReplicaRecord& record, const HealthCheck& check, bool success, std::string_view detail,
                 Clock::TimePoint now, Clock::Duration stableAfter);

/// The replica's process/container ended on its own: Stopped (NotReady in the
/// ring) and failed at once. Returns true when anything changed.
bool recordExit(ReplicaRecord& record, std::string_view reason, Clock::TimePoint now, Clock::Duration stableAfter);

/// Marks the slot failed with `reason` and bumps the crash count, which first
/// resets when the replica had been Ready for at least `stableAfter`.
void recordFailure(ReplicaRecord& record, std::string_view reason, Clock::TimePoint now, Clock::Duration stableAfter);

}  // namespace ringlb::op
