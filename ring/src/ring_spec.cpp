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
  return algorithm == Algorithm::Maglev ? "maglev" : "ring";
}

std::optional<Algorithm> parseAlgorithm(std::string_view text) noexcept {
  if (text == "ring") return Algorithm::Ring;
  if (text == "maglev") return Algorithm::Maglev;
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
  std::uint64_t points = 0;
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
    points += static_cast<std::uint64_t>(member.weight) * spec.virtualNodes;
  }
  if (spec.algorithm == Algorithm::Ring && points > kMaxRingPoints) {
    return fieldError("virtualNodes", "virtualNodes × total weight = " + std::to_string(points) + " exceeds " +
                                          std::to_string(kMaxRingPoints) + " points");
  }
  return spec;
}

}  // namespace ringlb::ring
