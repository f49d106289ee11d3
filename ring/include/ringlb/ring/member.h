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

/// A slot in the ring. Its positions depend only on `id` and `weight`, so a
/// replacement replica that keeps the slot id keeps every key.
struct Member {
  std::string id;
  std::string address;  // host:port the proxy connects to
  std::uint32_t weight = 1;
  MemberState state = MemberState::Ready;

  friend bool operator==(const Member&, const Member&) = default;
};

}  // namespace ringlb::ring
