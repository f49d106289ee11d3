#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringlb::ring {

/// Routing state of a ring member. Health is applied at pick time: a member
/// keeps its ring positions whatever its state.
enum class MemberState : std::uint8_t { Ready, NotReady, Draining };

std::string_view toString(MemberState state) noexcept;
std::optional<MemberState> parseMemberState(std::string_view text) noexcept;

/// rampPermille of a member that takes its whole weight.
inline constexpr std::uint32_t kFullRamp = 1000;

/// A slot in the ring. Its positions depend only on `id`, `weight` and
/// `rampPermille`, so a replacement replica that keeps the slot id keeps every key.
struct Member {
  std::string id;
  std::string address;  // host:port the proxy connects to
  std::uint32_t weight = 1;
  MemberState state = MemberState::Ready;
  // The part of `weight` in effect, in thousandths: a paced scale-up or slow
  // start ramps it from 0, a paced scale-down back to 0. `ring` keeps the
  // first weight·V·ramp/1000 of the member's points and `maglev` gives it
  // weight·ramp/1000 turns per round (an effective weight among the others);
  // `anchor`, which holds whole buckets, admits the keys whose rampDraw() is
  // below it and walks the rest on as if the member had left.
  std::uint32_t rampPermille = kFullRamp;

  friend bool operator==(const Member&, const Member&) = default;
};

}  // namespace ringlb::ring
