#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "routing_table.h"
#include "ringlb/ring/bounded_load.h"

namespace ringlb::proxy {

/// Members already tried for one request (owner plus retries); inline, no allocation.
class TriedSet {
 public:
  bool contains(std::uint32_t index) const noexcept {
    for (std::size_t i = 0; i < size_; ++i) {
      if (items_[i] == index) return true;
    }
    return false;
  }
  void add(std::uint32_t index) noexcept {
    if (size_ < items_.size() && !contains(index)) items_[size_++] = index;
  }
  std::size_t size() const noexcept { return size_; }
  bool full() const noexcept { return size_ == items_.size(); }
  /// Forgets the last member added (a stale pooled connection is retried on the same member).
  void removeLast() noexcept {
    if (size_ > 0) --size_;
  }

 private:
  std::array<std::uint32_t, 32> items_{};
  std::size_t size_ = 0;
};

/// The member chosen for an attempt.
struct Pick {
  std::uint32_t index = 0;
  bool spilled = false;        // bounded loads moved the pick past a full owner
  std::uint32_t spilledFrom = 0;  // that owner
  bool panic = false;          // every Ready member was ejected; passive health was ignored
  bool spread = false;         // a hot key's request sent past its owner to spread the load
};

/// Picks members by walking the ring from a key's hash: past members that
/// are not Ready, ejected by passive health or already tried, applying
/// bounded loads when the ring asks for them. If every Ready member is
/// ejected, ejection is ignored (Envoy's panic mode) rather than failing.
/// Stateless and allocation-free; safe on any thread.
///
/// `spreadRank` r > 0 (a hot key's request, first attempt only) takes the
/// r-th eligible member after the owner in walk order instead, unless bounded
/// loads find it full; when fewer are eligible the usual pick is made.
std::optional<Pick> pickMember(const RoutingTable& table, std::uint64_t hash, const TriedSet& tried,
                               const ring::LoadView* load, std::int64_t nowNanos, std::uint32_t spreadRank = 0);

/// One step of /explain's successor chain.
struct ExplainStep {
  std::string id;
  std::string address;
  std::string state;
  std::uint64_t inFlight = 0;
  bool chosen = false;
  std::string reason;  // why it was chosen or skipped
};

/// /explain: the hash, the owner and the successor chain up to and
/// including the member a request would go to, with why each was skipped.
struct Explanation {
  std::uint64_t hash = 0;
  std::optional<std::string> owner;
  std::optional<std::string> chosen;
  std::vector<ExplainStep> chain;
};

/// Explains the pick for `hash` as the request path would make it with `load`.
Explanation explainPick(const RoutingTable& table, std::uint64_t hash, const ring::LoadView* load, std::int64_t nowNanos);

}  // namespace ringlb::proxy
