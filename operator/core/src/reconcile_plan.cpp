#include "ringlb/operator/reconcile_plan.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "ringlb/ring/hash.h"

namespace ringlb::op {

std::string_view toString(Action::Kind kind) noexcept {
  switch (kind) {
    case Action::Kind::Adopt: return "Adopt";
    case Action::Kind::Start: return "Start";
    case Action::Kind::Restart: return "Restart";
    case Action::Kind::BeginDrain: return "BeginDrain";
    case Action::Kind::CancelDrain: return "CancelDrain";
    case Action::Kind::Stop: return "Stop";
    case Action::Kind::Unpublish: return "Unpublish";
  }
  return "Unknown";
}

Clock::Duration restartDelay(std::uint32_t crashCount, const ReconcileOptions& options) {
  if (crashCount <= 1) return Clock::Duration::zero();
  const std::uint32_t doublings = std::min<std::uint32_t>(crashCount - 2, 30);
  const auto delay = options.restartBackoffBase * (std::int64_t{1} << doublings);
  return std::min<Clock::Duration>(delay, options.restartBackoffCap);
}

std::string templateHash(const ReplicaTemplate& templ) {
  nlohmann::json env = nlohmann::json::array();
  for (const auto& var : templ.env) env.push_back({var.name, var.value});
  nlohmann::json canonical = {{"image", templ.image},
                              {"command", templ.command},
                              {"args", templ.args},
                              {"port", templ.port},
                              {"env", env},
                              {"memoryBytes", templ.memoryBytes.value_or(0)},
                              {"cpus", templ.cpus.value_or(0.0)}};
  // Later fields join the hash only when set, so an operator upgrade does not
  // replace every running replica of a template that does not use them.
  nlohmann::json otherLimits = nlohmann::json::object();
  for (const auto& [name, quantity] : templ.resources.limits) {
    if (name != "memory" && name != "cpu") otherLimits[name] = quantity;  // those two are hashed parsed, above
  }
  if (!otherLimits.empty()) canonical["limits"] = std::move(otherLimits);
  if (!templ.resources.requests.empty()) canonical["requests"] = templ.resources.requests;
  const ReplicaSecurityContext& security = templ.securityContext;
  if (security != ReplicaSecurityContext{}) {
    canonical["securityContext"] = {{"runAsUser", security.runAsUser.value_or(-1)},
                                    {"runAsGroup", security.runAsGroup.value_or(-1)},
                                    {"fsGroup", security.fsGroup.value_or(-1)},
                                    {"supplementalGroups", security.supplementalGroups}};
  }
  const PodSettings& pod = templ.pod;
  if (!pod.nodeSelector.empty()) canonical["nodeSelector"] = pod.nodeSelector;
  if (!pod.tolerations.empty()) canonical["tolerations"] = pod.tolerations;
  if (!pod.affinity.empty()) canonical["affinity"] = pod.affinity;
  if (!pod.topologySpreadConstraints.empty()) canonical["topologySpreadConstraints"] = pod.topologySpreadConstraints;
  if (!pod.imagePullSecrets.empty()) canonical["imagePullSecrets"] = pod.imagePullSecrets;
  if (!pod.serviceAccountName.empty()) canonical["serviceAccountName"] = pod.serviceAccountName;
  if (!pod.volumes.empty()) canonical["volumes"] = pod.volumes;
  if (!pod.volumeMounts.empty()) canonical["volumeMounts"] = pod.volumeMounts;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(ring::hashKey(canonical.dump())));
  return hex;
}

ReplicaSpec replicaSpecFor(const HashRing& ring, std::uint32_t ordinal) {
  ReplicaSpec spec;
  spec.ring = ring.metadata.name;
  spec.ringNamespace = ring.metadata.namespace_;
  spec.slot = slotId(ring.metadata.name, ordinal);
  spec.ordinal = ordinal;
  spec.templ = ring.spec.templ;
  spec.specHash = templateHash(ring.spec.templ);
  return spec;
}

std::optional<std::uint32_t> ordinalOf(const std::string& ringName, const std::string& slot) {
  if (slot.size() <= ringName.size() + 1 || slot.compare(0, ringName.size(), ringName) != 0 ||
      slot[ringName.size()] != '-') {
    return std::nullopt;
  }
  const char* begin = slot.data() + ringName.size() + 1;
  const char* end = slot.data() + slot.size();
  std::uint32_t ordinal = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, ordinal);
  if (ec != std::errc{} || ptr != end || (*begin == '0' && end - begin > 1)) return std::nullopt;
  return ordinal;
}

namespace {

void requeueNoLaterThan(Plan& result, Clock::TimePoint when) {
  if (!result.requeueAt || when < *result.requeueAt) result.requeueAt = when;
}

ReplicaState adoptedStateFor(const ReplicaInfo& info, const PlanInput& input) {
  if (!info.running) return ReplicaState::Stopped;
  // Keep what proxies were last told, so an operator restart does not flap the
  // ring; the heartbeat re-verifies within one interval.
  const auto published = input.lastPublished.find(info.slot);
  if (published == input.lastPublished.end()) return ReplicaState::Starting;
  switch (published->second) {
    case ring::MemberState::Ready: return ReplicaState::Ready;
    case ring::MemberState::Draining: return ReplicaState::Draining;
    case ring::MemberState::NotReady: return ReplicaState::Starting;
  }
  return ReplicaState::Starting;
}

Action makeAction(Action::Kind kind, const ReplicaRecord& record, std::string reason) {
  Action action;
  action.kind = kind;
  action.slot = record.slot;
  action.ordinal = record.ordinal;
  action.reason = std::move(reason);
  return action;
}

Plan planTeardown(const PlanInput& input, const ReconcileOptions& options) {
  Plan result;
  Action unpublish;
  unpublish.kind = Action::Kind::Unpublish;
  unpublish.reason = "resource deleted";
  result.actions.push_back(unpublish);
  std::vector<ReplicaRecord> records = input.replicas;
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.ordinal > b.ordinal; });
  for (const auto& record : records) {
    Action stop = makeAction(Action::Kind::Stop, record, "resource deleted");
    stop.grace = options.stopGrace;
    result.actions.push_back(std::move(stop));
  }
  for (const auto& info : input.unclaimed) {
    Action stop;
    stop.kind = Action::Kind::Stop;
    stop.slot = info.slot;
    stop.grace = options.stopGrace;
    stop.reason = "resource deleted";
    result.actions.push_back(std::move(stop));
  }
  return result;
}

}  // namespace

Plan plan(const PlanInput& input, Clock::TimePoint now, const ReconcileOptions& options) {
  if (!input.desired) {
    if (input.teardown && (!input.replicas.empty() || !input.unclaimed.empty() || !input.lastPublished.empty())) {
      return planTeardown(input, options);
    }
    return {};  // unknown or invalid resource: leave whatever runs alone
  }
  const HashRing& desired = *input.desired;
  const std::string& name = desired.metadata.name;
  const auto replicas = static_cast<std::uint32_t>(std::max(desired.spec.replicas, 0));
  const std::string hash = templateHash(desired.spec.templ);
  Plan result;

  // Adoption first, alone: the next pass plans against the adopted records.
  std::map<std::string, const ReplicaRecord*> bySlot;
  for (const auto& record : input.replicas) bySlot[record.slot] = &record;
  for (const auto& info : input.unclaimed) {
    const auto ordinal = ordinalOf(name, info.slot);
    if (!ordinal) continue;  // not a slot of this ring
    Action action;
    action.slot = info.slot;
    action.ordinal = *ordinal;
    if (const auto it = bySlot.find(info.slot); it != bySlot.end()) {
      if (it->second->runtimeId == info.runtimeId || !info.running) continue;
      // Two replicas claim one slot: keep the tracked one.
      action.kind = Action::Kind::Stop;
      action.grace = options.stopGrace;
      action.reason = "duplicate replica " + info.runtimeId + " in slot";
      result.actions.push_back(std::move(action));
      continue;
    }
    action.kind = Action::Kind::Adopt;
    action.adopted = info;
    action.adoptedState = adoptedStateFor(info, input);
    action.reason = "adopting running replica " + info.runtimeId;
    result.actions.push_back(std::move(action));
  }
  if (!result.actions.empty()) {
    result.requeueAt = now;
    return result;
  }

  std::vector<ReplicaRecord> records = input.replicas;
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.ordinal < b.ordinal; });
  std::map<std::uint32_t, const ReplicaRecord*> byOrdinal;
  for (const auto& record : records) byOrdinal[record.ordinal] = &record;

  const auto drain = std::chrono::seconds(desired.spec.drainSeconds);
  bool disruption = false;  // a slot in range is not Ready (or is being acted on)
  std::vector<const ReplicaRecord*> outdated;
  for (std::uint32_t ordinal = 0; ordinal < replicas; ++ordinal) {
    const auto it = byOrdinal.find(ordinal);
    if (it == byOrdinal.end()) {
      Action start;
      start.kind = Action::Kind::Start;
      start.slot = slotId(name, ordinal);
      start.ordinal = ordinal;
      start.spec = replicaSpecFor(desired, ordinal);
      start.reason = "scale up";
      result.actions.push_back(std::move(start));
      disruption = true;
      continue;
    }
    const ReplicaRecord& record = *it->second;
    if (record.state == ReplicaState::Draining && record.running) {
      if (record.specHash != hash) {
        // A rolling update drains the outdated replica, then replaces it.
        disruption = true;
        const Clock::TimePoint until = record.drainSince.value_or(now) + drain;
        if (now < until) {
          requeueNoLaterThan(result, until);
          continue;
        }
        Action restart = makeAction(Action::Kind::Restart, record, "template changed: drained");
        restart.spec = replicaSpecFor(desired, ordinal);
        restart.grace = options.stopGrace;
        result.actions.push_back(std::move(restart));
        continue;
      }
      result.actions.push_back(makeAction(Action::Kind::CancelDrain, record, "scaled back up"));
      disruption = disruption || !record.healthy;
      continue;
    }
    if (record.failed || !record.running) {
      disruption = true;
      const Clock::TimePoint notBefore = record.failedAt.value_or(now) + restartDelay(record.crashCount, options);
      if (now < notBefore) {
        requeueNoLaterThan(result, notBefore);
        continue;
      }
      Action restart = makeAction(Action::Kind::Restart, record,
                                  record.lastFailure.empty() ? std::string("replica not running") : record.lastFailure);
      restart.spec = replicaSpecFor(desired, ordinal);
      restart.grace = record.running ? options.failedStopGrace : std::chrono::seconds{0};
      restart.countsAsRestart = true;
      result.actions.push_back(std::move(restart));
      continue;
    }
    if (record.state != ReplicaState::Ready) {
      disruption = true;
      if (record.specHash != hash) {
        // It serves nothing, so replacing it costs nothing; waiting for it to be Ready could
        // wait forever when the old template is what holds it back (a Pod no node takes).
        Action restart = makeAction(Action::Kind::Restart, record, "template changed: not serving");
        restart.spec = replicaSpecFor(desired, ordinal);
        restart.grace = options.failedStopGrace;
        result.actions.push_back(std::move(restart));
        continue;
      }
    }
    if (record.specHash != hash) outdated.push_back(&record);
  }

  // Rolling update: one slot at a time, highest ordinal first, only while the
  // rest of the ring serves. A serving replica first drains, so proxies stop
  // sending it new requests before it stops (like a Pod leaving its Endpoints
  // before SIGTERM); the loop above replaces it once drained.
  if (!outdated.empty() && !disruption) {
    const ReplicaRecord& record = *outdated.back();
    if (drain.count() > 0 && record.state == ReplicaState::Ready) {
      result.actions.push_back(makeAction(Action::Kind::BeginDrain, record, "template changed"));
      requeueNoLaterThan(result, now + drain);
    } else {
      Action restart = makeAction(Action::Kind::Restart, record, "template changed");
      restart.spec = replicaSpecFor(desired, record.ordinal);
      restart.grace = options.stopGrace;
      result.actions.push_back(std::move(restart));
    }
  }

  // Scale down: highest slots first; serving ones drain before they stop.
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    const ReplicaRecord& record = *it;
    if (record.ordinal < replicas) continue;
    if (record.state == ReplicaState::Draining && record.running) {
      const Clock::TimePoint until = record.drainSince.value_or(now) + drain;
      if (now >= until) {
        Action stop = makeAction(Action::Kind::Stop, record, "scale down: drained");
        stop.grace = options.stopGrace;
        result.actions.push_back(std::move(stop));
      } else {
        requeueNoLaterThan(result, until);
      }
    } else if (record.state == ReplicaState::Ready && record.running && desired.spec.rollout.paced() &&
               input.holdingKeys.contains(record.slot)) {
      // The controller ramps it down step by step (and looks again at each step); it drains at 0.
      continue;
    } else if (record.state == ReplicaState::Ready && record.running) {
      result.actions.push_back(makeAction(Action::Kind::BeginDrain, record, "scale down"));
      requeueNoLaterThan(result, now + drain);
    } else {
      Action stop = makeAction(Action::Kind::Stop, record, "scale down: not serving");
      stop.grace = record.running ? options.failedStopGrace : std::chrono::seconds{0};
      result.actions.push_back(std::move(stop));
    }
  }
  return result;
}

}  // namespace ringlb::op
