#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"
#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/runtime.h"

namespace ringlb::op {

/// One step of a reconcile plan. Runtime steps (Start, Restart, Stop) go
/// through the Runtime; the others only change the operator's own records.
struct Action {
  enum class Kind : std::uint8_t {
    Adopt,        // track a replica the runtime already runs (operator restart)
    Start,        // run a replica in an empty slot
    Restart,      // replace the slot's replica: stop it, start a new one in the same slot
    BeginDrain,   // scale-down or rollout: Draining in the ring, stopped or replaced after drainSeconds
    CancelDrain,  // scaled back up while draining: serve again
    Stop,         // stop the slot's replica and forget the slot
    Unpublish,    // the resource is gone: withdraw its ring
  };
  Kind kind = Kind::Start;
  std::string slot;
  std::uint32_t ordinal = 0;
  ReplicaSpec spec;              // Start, Restart
  ReplicaInfo adopted;           // Adopt
  ReplicaState adoptedState = ReplicaState::Starting;  // Adopt
  std::chrono::seconds grace{0};  // Stop, Restart
  bool countsAsRestart = false;  // Restart: a failure replacement (not a template rollout)
  std::string reason;

  friend bool operator==(const Action&, const Action&) = default;
};

std::string_view toString(Action::Kind kind) noexcept;

/// What applying an action produced: the replica now running (Start,
/// Restart; nullopt for the other kinds), or the runtime's Error, whose kind
/// tells a routine Conflict from a real failure.
using ActionOutcome = Result<std::optional<ReplicaInfo>>;

}  // namespace ringlb::op
