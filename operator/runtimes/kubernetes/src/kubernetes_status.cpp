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
    memberList.push_back(std::move(entry));
  }
  out["members"] = std::move(memberList);
  json conditionList = json::array();
  for (const auto& condition : conditions) {
    conditionList.push_back({{"type", condition.type},
                             {"status", condition.status},
                             {"reason", condition.reason},
                             {"message", condition.message},
                             {"lastTransitionTime", condition.lastTransitionTime},
                             {"observedGeneration", condition.observedGeneration}});
  }
  out["conditions"] = std::move(conditionList);
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

std::string formatRfc3339(std::chrono::system_clock::time_point time, bool micro) {
  const auto sinceEpoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(sinceEpoch);
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buffer);
  if (micro) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(sinceEpoch - seconds).count();
    char fraction[24];  // room for any long long, though micros is 0..999999
    std::snprintf(fraction, sizeof fraction, ".%06lld", static_cast<long long>(micros));
    out += fraction;
  }
  out += 'Z';
  return out;
}

Result<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text) {
  const std::string original(text);
  auto fail = [&]() -> Result<std::chrono::system_clock::time_point> {
    return Error{"invalid RFC 3339 time '" + original + "'"};
  };
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(original.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return fail();
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string_view rest = text.substr(19);
  std::chrono::microseconds fraction{0};
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    std::int64_t micros = 0;
    int digitsSeen = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digitsSeen < 6) {
        micros = micros * 10 + (rest.front() - '0');
        ++digitsSeen;
      }
      rest.remove_prefix(1);
    }
    if (digitsSeen == 0) return fail();
    while (digitsSeen++ < 6) micros *= 10;
    fraction = std::chrono::microseconds(micros);
  }
  std::chrono::seconds offset{0};
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    const int hours = (rest[1] - '0') * 10 + (rest[2] - '0');
    const int minutes = (rest[4] - '0') * 10 + (rest[5] - '0');
    offset = std::chrono::hours(hours) + std::chrono::minutes(minutes);
    if (rest[0] == '-') offset = -offset;
  } else {
    return fail();
  }
  const std::time_t t = timegm(&tm);
  return std::chrono::system_clock::time_point(std::chrono::seconds(t) - offset) + fraction;
}

std::vector<Condition> mergeConditions(const std::vector<Condition>& previous, std::vector<Condition> desired,
                                       std::int64_t generation, const std::string& now) {
  std::sort(desired.begin(), desired.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
  for (auto& condition : desired) {
    if (condition.reason.empty()) condition.reason = "Unknown";
    if (condition.observedGeneration == 0) condition.observedGeneration = generation;
    const auto old = std::find_if(previous.begin(), previous.end(),
                                  [&](const Condition& c) { return c.type == condition.type; });
    if (old != previous.end() && old->status == condition.status && !old->lastTransitionTime.empty()) {
      condition.lastTransitionTime = old->lastTransitionTime;
    } else {
      condition.lastTransitionTime = now;
    }
  }
  return desired;
}

std::vector<Condition> deriveConditions(const HashRingSpec& spec, const HashRingStatus& status,
                                        std::int64_t generation) {
  const std::int32_t desired = spec.replicas;
  const std::string counts = std::to_string(status.readyReplicas) + "/" + std::to_string(desired) + " replicas ready";
  std::vector<std::string> failing;
  bool waiting = false;
  for (const auto& member : status.members) {
    if (member.state == ReplicaState::NotReady && (member.restarts > 0 || !member.lastFailure.empty())) {
      failing.push_back(member.id);
    }
    if (member.state == ReplicaState::Starting || member.state == ReplicaState::Draining ||
        member.state == ReplicaState::NotReady) {
      waiting = true;
    }
  }

  Condition ready{"Ready", "False", "ReplicasNotReady", counts, "", generation};
  if (desired == 0) {
    ready = {"Ready", "True", "ScaledToZero", "no replicas requested", "", generation};
  } else if (status.readyReplicas >= desired) {
    ready = {"Ready", "True", "AllReplicasReady", counts, "", generation};
  }

  Condition progressing{"Progressing", "False", "ReconcileComplete", "all replicas match the spec", "", generation};
  if (status.observedGeneration != generation) {
    progressing = {"Progressing", "True", "NewGeneration", "reconciling generation " + std::to_string(generation), "",
                   generation};
  } else if (status.replicas < desired) {
    progressing = {"Progressing", "True", "ScalingUp",
                   "scaling from " + std::to_string(status.replicas) + " to " + std::to_string(desired), "", generation};
  } else if (status.replicas > desired) {
    progressing = {"Progressing", "True", "ScalingDown",
                   "scaling from " + std::to_string(status.replicas) + " to " + std::to_string(desired), "", generation};
  } else if (waiting) {
    progressing = {"Progressing", "True", "WaitingForReplicas", counts, "", generation};
  }

  Condition degraded{"Degraded", "False", "AsExpected", "no replica is failing", "", generation};
  if (!failing.empty()) {
    std::string ids;
    for (const auto& id : failing) ids += (ids.empty() ? "" : ", ") + id;
    degraded = {"Degraded", "True", "ReplicaFailing", "failing: " + ids, "", generation};
  }
  std::vector<Condition> out{degraded, progressing, ready};
  return out;
}

std::string podSelectorFor(const std::string& ringName) { return "ringlb.dev/ring=" + ringName; }

}  // namespace ringlb::op
