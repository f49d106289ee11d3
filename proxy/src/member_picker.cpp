#include "member_picker.h"

namespace ringlb::proxy {

namespace {

// The rank-th eligible member after the first in walk order, or nullopt when fewer are eligible.
template <class Eligible>
std::optional<std::uint32_t> spreadTarget(const ring::RingSnapshot& ring, std::uint64_t hash, std::uint32_t rank,
                                          Eligible&& eligible) {
  auto walk = ring.walk(hash);
  std::uint32_t seen = 0;
  while (auto index = walk.next()) {
    if (!eligible(*index)) continue;
    if (seen++ == rank) return index;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Pick> pickMember(const RoutingTable& table, std::uint64_t hash, const TriedSet& tried,
                               const ring::LoadView* load, std::int64_t nowNanos, std::uint32_t spreadRank) {
  const auto& ring = *table.ring;
  if (ring.empty() || ring.readyCount() == 0) return std::nullopt;
  auto eligible = [&](std::uint32_t i) {
    return ring.isReady(i) && !table.routes[i].health->ejected(nowNanos) && !tried.contains(i);
  };
  if (spreadRank > 0 && tried.size() == 0) {
    if (const auto target = spreadTarget(ring, hash, spreadRank, eligible)) {
      const bool full = table.bounded && load != nullptr &&
                        load->inFlight(*target) >= table.bounded->capacity(load->totalInFlight(), ring.readyCount());
      if (!full) {
        Pick pick{*target, false, 0, false};
        pick.spread = true;
        return pick;
      }
    }
  }
  if (table.bounded && load != nullptr) {
    std::size_t count = 0;
    for (std::uint32_t i = 0; i < ring.members().size(); ++i) count += eligible(i) ? 1 : 0;
    if (auto choice = table.bounded->pick(ring, hash, *load, count, eligible)) {
      Pick pick{choice->index, choice->spilled, 0, false};
      if (choice->spilled) pick.spilledFrom = *ring.pick(hash, eligible);
      return pick;
    }
  } else {
    if (tried.size() == 0) {
      const auto owner = ring.placement().ownerOf(hash);
      if (eligible(owner)) return Pick{owner, false, 0, false};
    }
    if (auto index = ring.pick(hash, eligible)) return Pick{*index, false, 0, false};
  }
  auto readyUntried = [&](std::uint32_t i) { return ring.isReady(i) && !tried.contains(i); };
  if (auto index = ring.pick(hash, readyUntried)) return Pick{*index, false, 0, true};
  return std::nullopt;
}

Explanation explainPick(const RoutingTable& table, std::uint64_t hash, const ring::LoadView* load,
                        std::int64_t nowNanos) {
  Explanation out;
  out.hash = hash;
  const auto& ring = *table.ring;
  if (ring.empty()) return out;
  const auto owner = ring.owner(hash);
  out.owner = ring.members()[*owner].id;
  const auto chosen = pickMember(table, hash, TriedSet{}, load, nowNanos);
  // Bounded loads: capacity as the policy computes it, for the reasons.
  std::uint64_t limit = ~0ULL;
  if (table.bounded && load != nullptr) {
    std::size_t count = 0;
    for (std::uint32_t i = 0; i < ring.members().size(); ++i) {
      count += ring.isReady(i) && !table.routes[i].health->ejected(nowNanos) ? 1 : 0;
    }
    if (count > 0) limit = table.bounded->capacity(load->totalInFlight(), count);
  }
  auto walk = ring.walk(hash);
  while (auto index = walk.next()) {
    const auto& member = ring.members()[*index];
    ExplainStep step;
    step.id = member.id;
    step.address = member.address;
    step.state = std::string(ring::toString(member.state));
    step.inFlight = load != nullptr ? load->inFlight(*index) : 0;
    const bool isChosen = chosen && chosen->index == *index;
    if (isChosen) {
      step.chosen = true;
      step.reason = chosen->panic ? "chosen: every Ready member is ejected, so passive health is ignored"
                                  : (*index == *owner ? "chosen: owner of the key" : "chosen: first eligible successor");
    } else if (!ring.isReady(*index)) {
      step.reason = "skipped: not Ready (" + step.state + ")";
    } else if (table.routes[*index].health->ejected(nowNanos)) {
      step.reason = "skipped: ejected by passive health";
    } else if (table.bounded && load != nullptr && step.inFlight >= limit) {
      step.reason = "skipped: over bounded-load capacity (" + std::to_string(step.inFlight) + " in flight, capacity " +
                    std::to_string(limit) + ")";
    } else {
      step.reason = "skipped";
    }
    out.chain.push_back(std::move(step));
    if (isChosen) {
      out.chosen = member.id;
      break;
    }
  }
  return out;
}

}  // namespace ringlb::proxy
