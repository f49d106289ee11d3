#pragma once

#include <cstdint>
#include <string_view>

namespace ringlb::ring {

/// XXH3-64 of a request key with seed 0. Every proxy and the operator hash
/// keys with this, so the placement of a key is the same everywhere.
std::uint64_t hashKey(std::string_view key) noexcept;

/// XXH3-64 with an explicit seed: used to derive ring points and maglev
/// permutations from a member id.
std::uint64_t hashWithSeed(std::string_view bytes, std::uint64_t seed) noexcept;

/// A key's draw against a partly ramped member, in [0, 1000): the member
/// admits the key when the draw is below its rampPermille. The same draw for
/// every member, so raising a ramp only ever adds keys. Part of the routing contract.
std::uint32_t rampDraw(std::uint64_t keyHash) noexcept;

}  // namespace ringlb::ring
