#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/ring/member.h"
#include "ringlb/base/result.h"

namespace ringlb::ring {

enum class Algorithm : std::uint8_t { Ring, Maglev, Anchor };

std::string_view toString(Algorithm algorithm) noexcept;
std::optional<Algorithm> parseAlgorithm(std::string_view text) noexcept;

/// Where the proxy takes a request's hash key from.
enum class KeySource : std::uint8_t { Path, PathAndQuery, Header, Cookie, Query, SourceIp };

std::string_view toString(KeySource source) noexcept;
std::optional<KeySource> parseKeySource(std::string_view text) noexcept;

/// How the proxy speaks to a ring's members.
enum class UpstreamProtocol : std::uint8_t { Http1, H2c };

std::string_view toString(UpstreamProtocol protocol) noexcept;
std::optional<UpstreamProtocol> parseUpstreamProtocol(std::string_view text) noexcept;

struct KeySpec {
  KeySource source = KeySource::Path;
  std::string name;  // header, cookie or query parameter name

  friend bool operator==(const KeySpec&, const KeySpec&) = default;
};

inline constexpr std::uint32_t kDefaultVirtualNodes = 160;
inline constexpr std::uint32_t kDefaultMaglevTableSize = 65537;
inline constexpr std::uint32_t kMaxWeight = 1000;
inline constexpr std::uint64_t kMaxRingPoints = 1u << 24;
inline constexpr std::uint32_t kMaxMaglevTableSize = 5'000'011;
inline constexpr std::uint32_t kDefaultAnchorCapacity = 1024;
inline constexpr std::uint32_t kMaxAnchorCapacity = 1u << 20;

/// Everything a ring is built from: the JSON wire format in memory. Points are
/// never shipped; every process derives them from this.
struct RingSpec {
  std::string name;
  std::uint64_t version = 0;
  Algorithm algorithm = Algorithm::Ring;
  std::uint32_t virtualNodes = kDefaultVirtualNodes;  // ring points per unit of weight
  std::uint32_t tableSize = kDefaultMaglevTableSize;  // maglev only; must be prime
  std::uint32_t capacity = kDefaultAnchorCapacity;    // anchor only: buckets, ≥ total weight
  double loadFactor = 0.0;                           // bounded loads; 0 disables
  KeySpec key;
  UpstreamProtocol protocol = UpstreamProtocol::Http1;  // HTTP/1.1, or HTTP/2 with prior knowledge
  std::vector<Member> members;

  friend bool operator==(const RingSpec&, const RingSpec&) = default;
};

/// Checks the semantic rules (unique ids, weights, prime table size, limits).
/// Returns the spec unchanged, or an Error naming the offending field.
Result<RingSpec> validate(RingSpec spec);

bool isPrime(std::uint64_t n) noexcept;

/// The slot an id names: the decimal number after its last '-' ("apod-12" →
/// 12), or nullopt. Anchor places member `apod-12` at bucket 12.
std::optional<std::uint32_t> slotOf(std::string_view id) noexcept;

}  // namespace ringlb::ring
