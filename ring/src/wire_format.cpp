#include "ringlb/ring/wire_format.h"

#include <initializer_list>
#include <limits>

#include <nlohmann/json.hpp>

namespace ringlb::ring {

using nlohmann::json;

namespace {

// A field-by-field reader that records the first error with its JSON path.
class FieldReader {
 public:
  explicit FieldReader(std::string path) : path_(std::move(path)) {}

  std::string at(std::string_view field) const { return path_.empty() ? std::string(field) : path_ + "." + std::string(field); }

  std::optional<Error> rejectUnknown(const json& object, std::initializer_list<std::string_view> known) const {
    for (const auto& [name, value] : object.items()) {
      bool found = false;
      for (auto k : known) found = found || name == k;
      if (!found) return Error{at(name) + ": unknown field"};
    }
    return std::nullopt;
  }

  std::optional<Error> readString(const json& object, std::string_view field, std::string& out, bool required) const {
    const auto it = object.find(std::string(field));
    if (it == object.end()) {
      return required ? std::optional<Error>(Error{at(field) + ": missing required field"}) : std::nullopt;
    }
    if (!it->is_string()) return Error{at(field) + ": must be a string"};
    out = it->get<std::string>();
    return std::nullopt;
  }

  template <class Unsigned>
  std::optional<Error> readUnsigned(const json& object, std::string_view field, Unsigned& out, bool required) const {
    const auto it = object.find(std::string(field));
    if (it == object.end()) {
      return required ? std::optional<Error>(Error{at(field) + ": missing required field"}) : std::nullopt;
    }
    if (it->is_number_integer() && !it->is_number_unsigned()) return Error{at(field) + ": must not be negative"};
    if (!it->is_number_unsigned()) return Error{at(field) + ": must be a non-negative integer"};
    const auto value = it->get<std::uint64_t>();
    if (value > std::numeric_limits<Unsigned>::max()) return Error{at(field) + ": is too large"};
    out = static_cast<Unsigned>(value);
    return std::nullopt;
  }

 private:
  std::string path_;
};

Result<Member> memberFromJson(const json& object, std::size_t index) {
  const FieldReader reader("members[" + std::to_string(index) + "]");
  if (!object.is_object()) return Error{reader.at("") + " must be an object"};
  Member member;
  std::string state = "Ready";
  if (auto e = reader.rejectUnknown(object, {"id", "address", "weight", "state", "rampPermille"})) return *e;
  if (auto e = reader.readString(object, "id", member.id, true)) return *e;
  if (auto e = reader.readString(object, "address", member.address, true)) return *e;
  if (object.contains("weight") && object["weight"].is_number_integer() && object["weight"].get<std::int64_t>() <= 0) {
    return Error{reader.at("weight") + ": must be ≥ 1"};
  }
  if (auto e = reader.readUnsigned(object, "weight", member.weight, false)) return *e;
  if (auto e = reader.readUnsigned(object, "rampPermille", member.rampPermille, false)) return *e;
  if (auto e = reader.readString(object, "state", state, false)) return *e;
  const auto parsed = parseMemberState(state);
  if (!parsed) return Error{reader.at("state") + ": '" + state + "' is not one of Ready, NotReady, Draining"};
  member.state = *parsed;
  return member;
}

}  // namespace

Result<RingSpec> ringFromJson(const json& document) {
  const FieldReader reader("");
  if (!document.is_object()) return Error{"ring: must be a JSON object"};
  if (auto e = reader.rejectUnknown(document, {"name", "version", "algorithm", "virtualNodes", "tableSize",
                                               "capacity", "loadFactor", "key", "protocol", "members"})) {
    return *e;
  }
  RingSpec spec;
  if (auto e = reader.readString(document, "name", spec.name, true)) return *e;
  if (auto e = reader.readUnsigned(document, "version", spec.version, true)) return *e;

  std::string algorithm = "ring";
  if (auto e = reader.readString(document, "algorithm", algorithm, false)) return *e;
  const auto parsedAlgorithm = parseAlgorithm(algorithm);
  if (!parsedAlgorithm) return Error{"algorithm: '" + algorithm + "' is not one of ring, maglev, anchor"};
  spec.algorithm = *parsedAlgorithm;

  if (auto e = reader.readUnsigned(document, "virtualNodes", spec.virtualNodes, false)) return *e;
  if (auto e = reader.readUnsigned(document, "tableSize", spec.tableSize, false)) return *e;
  // The table size is maglev's alone: a ring spec keeps the default, as ringToJson leaves it
  // out, so a spec survives a round trip unchanged.
  if (spec.algorithm != Algorithm::Maglev) spec.tableSize = kDefaultMaglevTableSize;
  // Likewise the capacity is anchor's alone.
  if (auto e = reader.readUnsigned(document, "capacity", spec.capacity, false)) return *e;
  if (spec.algorithm != Algorithm::Anchor) spec.capacity = kDefaultAnchorCapacity;

  if (const auto it = document.find("loadFactor"); it != document.end()) {
    if (!it->is_number()) return Error{"loadFactor: must be a number"};
    spec.loadFactor = it->get<double>();
  }

  if (const auto it = document.find("key"); it != document.end()) {
    const FieldReader keyReader("key");
    if (!it->is_object()) return Error{"key: must be an object"};
    if (auto e = keyReader.rejectUnknown(*it, {"source", "name"})) return *e;
    std::string source = "path";
    if (auto e = keyReader.readString(*it, "source", source, true)) return *e;
    const auto parsedSource = parseKeySource(source);
    if (!parsedSource) {
      return Error{"key.source: '" + source + "' is not one of path, pathAndQuery, header, cookie, query, sourceIP"};
    }
    spec.key.source = *parsedSource;
    if (auto e = keyReader.readString(*it, "name", spec.key.name, false)) return *e;
  }

  std::string protocol = "http1";
  if (auto e = reader.readString(document, "protocol", protocol, false)) return *e;
  const auto parsedProtocol = parseUpstreamProtocol(protocol);
  if (!parsedProtocol) return Error{"protocol: '" + protocol + "' is not one of http1, h2c"};
  spec.protocol = *parsedProtocol;

  const auto members = document.find("members");
  if (members == document.end()) return Error{"members: missing required field"};
  if (!members->is_array()) return Error{"members: must be an array"};
  spec.members.reserve(members->size());
  for (std::size_t i = 0; i < members->size(); ++i) {
    auto member = memberFromJson((*members)[i], i);
    if (!member) return Error{member.error()};
    spec.members.push_back(std::move(member).value());
  }
  return validate(std::move(spec));
}

Result<RingSpec> parseRingJson(std::string_view text) {
  json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Error{"ring: not valid JSON"};
  return ringFromJson(document);
}

json ringToJson(const RingSpec& spec) {
  json members = json::array();
  for (const auto& member : spec.members) {
    members.push_back({{"id", member.id},
                       {"address", member.address},
                       {"weight", member.weight},
                       {"state", std::string(toString(member.state))}});
    // Left out at full weight, so rings without a ramp read as they always did.
    if (member.rampPermille != kFullRamp) members.back()["rampPermille"] = member.rampPermille;
  }
  json key = {{"source", std::string(toString(spec.key.source))}};
  if (!spec.key.name.empty()) key["name"] = spec.key.name;
  json document = {{"name", spec.name},
                   {"version", spec.version},
                   {"algorithm", std::string(toString(spec.algorithm))},
                   {"virtualNodes", spec.virtualNodes},
                   {"loadFactor", spec.loadFactor},
                   {"key", key},
                   {"members", members}};
  if (spec.algorithm == Algorithm::Maglev) document["tableSize"] = spec.tableSize;
  if (spec.algorithm == Algorithm::Anchor) document["capacity"] = spec.capacity;
  // Left out for http1, so an http1 ring stays readable by proxies that predate the field.
  if (spec.protocol != UpstreamProtocol::Http1) document["protocol"] = std::string(toString(spec.protocol));
  return document;
}

std::string serializeRing(const RingSpec& spec) { return ringToJson(spec).dump(); }

}  // namespace ringlb::ring
