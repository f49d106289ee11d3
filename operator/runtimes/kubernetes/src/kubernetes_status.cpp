#include "ringlb/operator/kubernetes_status.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace ringlb::op {

namespace {

using nlohmann::json;

ReplicaState parseState(std::string_view text) {
  for (auto state : {ReplicaState::Starting, ReplicaState::Ready, ReplicaState::NotReady, ReplicaState::Draining,
                     ReplicaState::Stopped}) {
    if (text == toString(state)) return state;
  }
  return ReplicaState::NotReady;
}

// Ordinal of "<ring>-<ordinal>"; ids without one sort after, by name.
std::int64_t ordinalOf(const std::string& id) {
  const auto dash = id.rfind('-');
  if (dash == std::string::npos) return -1;
  std::int64_t value = 0;
  const char* begin = id.data() + dash + 1;
  const char* end = id.data() + id.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || begin == end) return -1;
  return value;
}

bool memberLess(const MemberStatus& a, const MemberStatus& b) {
  const auto oa = ordinalOf(a.id);
  const auto ob = ordinalOf(b.id);
  if ((oa < 0) != (ob < 0)) return oa >= 0;
  if (oa != ob) return oa < ob;
  return a.id < b.id;
}

template <class T>
T numberOr(const json& object, const char* field, T fallback) {
  const auto it = object.find(field);
  if (it == object.end() || !it->is_number()) return fallback;
  return it->get<T>();
}

std::string stringOr(const json& object, const char* field) {
  const auto it = object.find(field);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

json hashRingStatusToJson(const HashRingStatus& status) {
  std::vector<MemberStatus> members = status.members;
  std::sort(members.begin(), members.end(), memberLess);
  std::vector<Condition> conditions = status.conditions;
  std::sort(conditions.begin(), conditions.end(), [](const auto& a, const auto& b) { return a.type < b.type; });

  json out = json::object();
  out["observedGeneration"] = status.observedGeneration;
  out["replicas"] = status.replicas;
  out["readyReplicas"] = status.readyReplicas;
  out["selector"] = status.selector;
  out["ringVersion"] = status.ringVersion;
  json memberList = json::array();
  for (const auto& member : members) {
    json entry = {{"id", member.id}, {"state", std::string(toString(member.state))}, {"restarts", member.restarts}};
    if (!member.address.empty()) entry["address"] = member.address;
    if (!member.lastFailure.empty()) entry["lastFailure"] = member.lastFailure;
    // Left out at full weight, as in the ring's wire format.
    if (member.rampPermille < 1000) entry["rampPermille"] = member.rampPermille;
    memberList.push_back(std::move(entry));
  }
  out["members"] = std::move(memberList);
  out["conditions"] = conditionsToJson(conditions);
  return out;
}

HashRingStatus hashRingStatusFromJson(const json& status) {
  HashRingStatus out;
  if (!status.is_object()) return out;
  out.observedGeneration = numberOr<std::int64_t>(status, "observedGeneration", 0);
  out.replicas = numberOr<std::int32_t>(status, "replicas", 0);
  out.readyReplicas = numberOr<std::int32_t>(status, "readyReplicas", 0);
  out.selector = stringOr(status, "selector");
  out.ringVersion = numberOr<std::uint64_t>(status, "ringVersion", 0);
  if (const auto members = status.find("members"); members != status.end() && members->is_array()) {
    for (const auto& entry : *members) {
      if (!entry.is_object()) continue;
      MemberStatus member;
      member.id = stringOr(entry, "id");
      member.address = stringOr(entry, "address");
      member.state = parseState(stringOr(entry, "state"));
      member.restarts = numberOr<std::uint32_t>(entry, "restarts", 0);
      member.lastFailure = stringOr(entry, "lastFailure");
      member.rampPermille = std::min<std::uint32_t>(numberOr<std::uint32_t>(entry, "rampPermille", 1000), 1000);
      out.members.push_back(std::move(member));
    }
    std::sort(out.members.begin(), out.members.end(), memberLess);
  }
  if (const auto conditions = status.find("conditions"); conditions != status.end() && conditions->is_array()) {
    for (const auto& entry : *conditions) {
      if (!entry.is_object()) continue;
      Condition condition;
      condition.type = stringOr(entry, "type");
      condition.status = stringOr(entry, "status");
      condition.reason = stringOr(entry, "reason");
      condition.message = stringOr(entry, "message");
      condition.lastTransitionTime = stringOr(entry, "lastTransitionTime");
      condition.observedGeneration = numberOr<std::int64_t>(entry, "observedGeneration", 0);
      out.conditions.push_back(std::move(condition));
    }
    std::sort(out.conditions.begin(), out.conditions.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
  }
  return out;
}

Result<double> parseQuantity(std::string_view text) {
  const std::string original(text);
  auto fail = [&]() -> Result<double> { return Error{"invalid quantity '" + original + "'"}; };
  if (text.empty()) return fail();
  std::size_t numberEnd = 0;
  if (numberEnd < text.size() && (text[numberEnd] == '+' || text[numberEnd] == '-')) ++numberEnd;
  bool digits = false;
  while (numberEnd < text.size() && ((text[numberEnd] >= '0' && text[numberEnd] <= '9') || text[numberEnd] == '.')) {
    digits = digits || text[numberEnd] != '.';
    ++numberEnd;
  }
  if (!digits) return fail();
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + numberEnd, value);
  if (ec != std::errc() || ptr != text.data() + numberEnd) return fail();
  const std::string_view suffix = text.substr(numberEnd);
  struct Suffix {
    std::string_view text;
    double factor;
  };
  static constexpr Suffix kSuffixes[] = {
      {"", 1},        {"n", 1e-9},    {"u", 1e-6},           {"m", 1e-3},           {"k", 1e3},
      {"M", 1e6},     {"G", 1e9},     {"T", 1e12},           {"P", 1e15},           {"E", 1e18},
      {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0},
  };
  for (const auto& candidate : kSuffixes) {
    if (suffix == candidate.text) return value * candidate.factor;
  }
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    int exponent = 0;
    const char* begin = suffix.data() + 1;
    if (*begin == '+') ++begin;
    const auto [eptr, eec] = std::from_chars(begin, suffix.data() + suffix.size(), exponent);
    if (eec == std::errc() && eptr == suffix.data() + suffix.size()) return value * std::pow(10.0, exponent);
  }
  return fail();
}

}  // namespace ringlb::op
