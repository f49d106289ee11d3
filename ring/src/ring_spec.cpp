#include "ringlb/ring/ring_spec.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <unordered_set>

namespace ringlb::ring {

std::string_view toString(MemberState state) noexcept {
  switch (state) {
    case MemberState::Ready: return "Ready";
    case MemberState::NotReady: return "NotReady";
    case MemberState::Draining: return "Draining";
  }
  return "NotReady";
}

std::optional<MemberState> parseMemberState(std::string_view text) noexcept {
  if (text == "Ready") return MemberState::Ready;
  if (text == "NotReady") return MemberState::NotReady;
  if (text == "Draining") return MemberState::Draining;
  return std::nullopt;
}

std::string_view toString(Algorithm algorithm) noexcept {
  switch (algorithm) {
    case Algorithm::Ring: return "ring";
    case Algorithm::Maglev: return "maglev";
    case Algorithm::Anchor: return "anchor";
  }
  return "ring";
}

std::optional<Algorithm> parseAlgorithm(std::string_view text) noexcept {
  if (text == "ring") return Algorithm::Ring;
  if (text == "maglev") return Algorithm::Maglev;
  if (text == "anchor") return Algorithm::Anchor;
  return std::nullopt;
}

std::string_view toString(UpstreamProtocol protocol) noexcept {
  return protocol == UpstreamProtocol::H2c ? "h2c" : "http1";
}

std::optional<UpstreamProtocol> parseUpstreamProtocol(std::string_view text) noexcept {
  if (text == "http1") return UpstreamProtocol::Http1;
  if (text == "h2c") return UpstreamProtocol::H2c;
  return std::nullopt;
}

std::string_view toString(KeySource source) noexcept {
  switch (source) {
    case KeySource::Path: return "path";
    case KeySource::PathAndQuery: return "pathAndQuery";
    case KeySource::Header: return "header";
    case KeySource::Cookie: return "cookie";
    case KeySource::Query: return "query";
    case KeySource::SourceIp: return "sourceIP";
  }
  return "path";
}

std::optional<KeySource> parseKeySource(std::string_view text) noexcept {
  for (auto source : {KeySource::Path, KeySource::PathAndQuery, KeySource::Header, KeySource::Cookie,
                      KeySource::Query, KeySource::SourceIp}) {
    if (text == toString(source)) return source;
  }
  return std::nullopt;
}

bool isPrime(std::uint64_t n) noexcept {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (std::uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

std::optional<std::uint32_t> slotOf(std::string_view id) noexcept {
  const auto dash = id.rfind('-');
  if (dash == std::string_view::npos || dash + 1 == id.size()) return std::nullopt;
  const std::string_view digits = id.substr(dash + 1);
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;  // "a-01" would share a slot with "a-1"
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

namespace {

bool validId(std::string_view id) {
  if (id.empty() || id.size() > 253) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

bool validAddress(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view port = address.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) return false;
  const std::string_view host = address.substr(0, colon);
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find_first_of(" /[]") == std::string_view::npos;
}

Error fieldError(const std::string& field, const std::string& reason) { return Error{field + ": " + reason}; }

}  // namespace

Result<RingSpec> validate(RingSpec spec) {
  if (spec.name.empty()) return fieldError("name", "must not be empty");
  if (spec.algorithm == Algorithm::Ring) {
    if (spec.virtualNodes == 0) return fieldError("virtualNodes", "must be ≥ 1");
  } else if (spec.algorithm == Algorithm::Anchor) {
    if (spec.capacity == 0 || spec.capacity > kMaxAnchorCapacity) {
      return fieldError("capacity", "must be between 1 and " + std::to_string(kMaxAnchorCapacity));
    }
  } else {
    if (!isPrime(spec.tableSize)) {
      return fieldError("tableSize", std::to_string(spec.tableSize) + " is not prime (maglev needs a prime table size)");
    }
    if (spec.tableSize > kMaxMaglevTableSize) {
      return fieldError("tableSize", "must be ≤ " + std::to_string(kMaxMaglevTableSize));
    }
    if (spec.tableSize < spec.members.size()) {
      return fieldError("tableSize", "must be at least the number of members");
    }
  }
  if (!(spec.loadFactor == 0.0 || spec.loadFactor >= 1.0)) {
    return fieldError("loadFactor", "must be 0 (off) or ≥ 1.0");
  }
  if ((spec.key.source == KeySource::Header || spec.key.source == KeySource::Cookie ||
       spec.key.source == KeySource::Query) &&
      spec.key.name.empty()) {
    return fieldError("key.name", "is required when key.source is " + std::string(toString(spec.key.source)));
  }
  std::unordered_set<std::string_view> ids;
  std::unordered_set<std::uint32_t> slots;
  std::uint64_t points = 0;
  std::uint64_t totalWeight = 0;
  std::uint32_t highestSlot = 0;
  bool fullyIn = false;
  for (std::size_t i = 0; i < spec.members.size(); ++i) {
    const Member& member = spec.members[i];
    const std::string field = "members[" + std::to_string(i) + "]";
    if (!validId(member.id)) {
      return fieldError(field + ".id", "'" + member.id + "' must be 1-253 characters of [A-Za-z0-9._-]");
    }
    if (!ids.insert(member.id).second) return fieldError(field + ".id", "duplicate id '" + member.id + "'");
    if (!validAddress(member.address)) {
      return fieldError(field + ".address", "'" + member.address + "' is not host:port");
    }
    if (member.weight < 1 || member.weight > kMaxWeight) {
      return fieldError(field + ".weight", "must be between 1 and " + std::to_string(kMaxWeight));
    }
    if (member.rampPermille > kFullRamp) {
      return fieldError(field + ".rampPermille", "must be between 0 and " + std::to_string(kFullRamp) + ", got " +
                                                     std::to_string(member.rampPermille));
    }
    fullyIn = fullyIn || member.rampPermille == kFullRamp;
    points += static_cast<std::uint64_t>(member.weight) * spec.virtualNodes;
    totalWeight += member.weight;
    if (spec.algorithm == Algorithm::Anchor) {
      const auto slot = slotOf(member.id);
      if (!slot) return fieldError(field + ".id", "'" + member.id + "' must end in -<slot> for algorithm anchor (apod-0, apod-1, …)");
      if (!slots.insert(*slot).second) return fieldError(field + ".id", "slot " + std::to_string(*slot) + " is used twice");
      highestSlot = std::max(highestSlot, *slot);
    }
  }
  if (!spec.members.empty() && !fullyIn) {
    // Something must own every key while the others ramp.
    return fieldError("members", "at least one member must have rampPermille " + std::to_string(kFullRamp));
  }
  if (spec.algorithm == Algorithm::Anchor && !spec.members.empty()) {
    // Slots sit at the bottom of the buckets, extra weight at the top; they must not meet.
    const std::uint64_t extra = totalWeight - spec.members.size();
    if (highestSlot + 1 + extra > spec.capacity) {
      return fieldError("capacity", std::to_string(spec.capacity) + " buckets cannot hold slots up to " +
                                        std::to_string(highestSlot) + " and " + std::to_string(extra) +
                                        " further units of weight");
    }
  }
  if (spec.algorithm == Algorithm::Ring && points > kMaxRingPoints) {
    return fieldError("virtualNodes", "virtualNodes × total weight = " + std::to_string(points) + " exceeds " +
                                          std::to_string(kMaxRingPoints) + " points");
  }
  return spec;
}

}  // namespace ringlb::ring
