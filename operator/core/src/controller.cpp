#include "ringlb/operator/controller.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "ringlb/operator/rfc3339.h"
#include "ringlb/operator/ring_spec_mapping.h"
#include "ringlb/operator/ring_status.h"
#include "ringlb/operator/rollout_pacer.h"
#include "ringlb/operator/status_page_json.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::op {

using nlohmann::json;

namespace {

std::int64_t unixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Controller::Controller(ResourceSource& source, Runtime& runtime, RingRegistry& registry, HeartbeatProber& prober,
                       OperatorMetrics& metrics, const Clock& clock, ControllerOptions options)
    : source_(source),
      runtime_(runtime),
      registry_(registry),
      prober_(prober),
      metrics_(metrics),
      clock_(clock),
      options_(options),
      executor_(runtime),
      queue_(options.queue),
      statusWriter_(source, [this](const std::string& key, const Error& error) { onStatusWriteFailed(key, error); }) {}

Controller::~Controller() {
  shutdown(false);
  // The runtime outlives us; its event thread must not call into a destroyed controller.
  if (eventsAttached_) runtime_.onEvent({});
}

Status Controller::start() {
  runtime_.onEvent([this](const RuntimeEvent& event) { onRuntimeEvent(event); });
  eventsAttached_ = true;
  source_.start([this](const ResourceEvent& event) { onResourceEvent(event); });
  {
    std::lock_guard lock(mutex_);
    initialSync_ = true;
    // Rings published before a restart whose resource is gone get withdrawn.
    for (const auto& key : registry_.keys()) {
      ringLocked(key);
      enqueueLocked(key);
    }
  }
  auto listed = runtime_.list();
  if (!listed) return Error{"runtime " + std::string(runtime_.name()) + ": cannot list replicas: " + listed.error()};
  resyncRuntime();
  {
    std::lock_guard lock(mutex_);
    nextResync_ = clock_.now() + options_.resync;
  }
  for (unsigned i = 0; i < std::max(1u, options_.workers); ++i) workers_.emplace_back([this] { workerLoop(); });
  return ok();
}

void Controller::shutdown(bool stopReplicas) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  source_.stop();
  wake_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
  prober_.stop();
  statusWriter_.stop();  // what is pending is still written
  if (!stopReplicas) return;
  std::vector<RingWrite> writes;
  {
    // Proxies stop routing to the replicas before they go, and the persisted
    // ring does not claim Ready replicas that no longer run when the next
    // operator serves it at startup.
    std::lock_guard lock(mutex_);
    for (auto& [key, state] : rings_) {
      for (auto& [slot, record] : state.records) record.state = ReplicaState::Stopped;
      writes.push_back(stageRingLocked(key, state));
    }
  }
  for (const auto& write : writes) writeRing(write);
  auto listed = runtime_.list();
  if (!listed) {
    spdlog::error("shutdown: cannot list replicas to stop them: {}", listed.error());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& info : listed.value()) expectedExits_.insert(info.runtimeId);
  }
  std::vector<std::thread> stoppers;
  for (const auto& info : listed.value()) {
    stoppers.emplace_back([this, info] {
      const std::string ring = info.ringNamespace.empty() ? info.ring : ringKey(info.ringNamespace, info.ring);
      if (auto stopped = runtime_.stop(ring, info.slot, options_.reconcile.stopGrace); !stopped) {
        spdlog::error("shutdown: stopping {}: {}", info.slot, stopped.error());
      } else {
        spdlog::info("shutdown: stopped {} ({})", info.slot, info.runtimeId);
      }
    });
  }
  for (auto& stopper : stoppers) stopper.join();
}

Controller::RingState& Controller::ringLocked(const std::string& key) {
  auto [it, inserted] = rings_.try_emplace(key);
  if (inserted) it->second.name = ringNameOf(key);
  return it->second;
}

std::string Controller::keyForReplicaLocked(const std::string& ns, const std::string& name) const {
  if (!ns.empty()) return ringKey(ns, name);
  // A runtime without namespaces (processes, containers): the one ring of that name.
  for (const auto& [key, state] : rings_) {
    if (state.name == name) return key;
  }
  for (const auto& key : desired_.keys()) {
    if (ringNameOf(key) == name) return key;
  }
  return "default/" + name;
}

void Controller::enqueueLocked(const std::string& key) {
  queue_.add(key);
  wake_.notify_one();
}

void Controller::onResourceEvent(const ResourceEvent& event) {
  std::lock_guard lock(mutex_);
  const bool changed = desired_.apply(event);
  // The version a previous leader published (the status every replica sees): never published again.
  if (event.kind == ResourceEvent::Kind::Upserted && event.ring) {
    registry_.raiseVersionFloor(event.key, event.ring->status.ringVersion);
  }
  const bool namesRing = event.key.rfind(kUnnamedResourcePrefix, 0) != 0;
  switch (event.kind) {
    case ResourceEvent::Kind::Invalid:
      spdlog::error("invalid resource (the last good state keeps running): {}", event.error);
      metrics_.resourceRejected(namesRing ? event.key : "unknown");
      break;
    case ResourceEvent::Kind::Upserted:
      if (changed && event.ring) {
        spdlog::info("resource {}: generation {}, {} replicas", event.key, event.ring->metadata.generation,
                     event.ring->spec.replicas);
      }
      break;
    case ResourceEvent::Kind::Deleted:
      if (namesRing) {
        spdlog::info("resource {} deleted: its replicas will be stopped", event.key);
      } else if (changed) {
        spdlog::info("{} is valid again", event.key.substr(kUnnamedResourcePrefix.size()));
      }
      break;
  }
  if (!namesRing) return;
  RingState& state = ringLocked(event.key);
  updateStatusLocked(event.key, state);
  if (changed) enqueueLocked(event.key);
}

void Controller::onRuntimeEvent(const RuntimeEvent& event) {
  std::optional<RingWrite> write;
  {
    std::lock_guard lock(mutex_);
    // A runtime that learns the address only later (a Pod gets its IP and turns Ready) reports it with Started.
    if (event.kind != RuntimeEvent::Kind::Started) {
      write = recordExitLocked(event);
    } else if (!event.address.empty()) {
      write = updateAddressLocked(keyForReplicaLocked(event.ringNamespace, event.ring), event.slot, event.runtimeId,
                                  event.address);
    }
  }
  if (write) commit(*write);
}

std::optional<Controller::RingWrite> Controller::recordExitLocked(const RuntimeEvent& event) {
  const std::string key = keyForReplicaLocked(event.ringNamespace, event.ring);
  const auto ringIt = rings_.find(key);
  if (ringIt == rings_.end()) return std::nullopt;
  RingState& state = ringIt->second;
  const auto it = state.records.find(event.slot);
  if (it == state.records.end() || it->second.runtimeId != event.runtimeId) {
    for (auto& info : state.unclaimed) {
      if (info.runtimeId == event.runtimeId) {
        info.running = false;
        info.reason = event.reason;
      }
    }
    return std::nullopt;
  }
  ReplicaRecord& record = it->second;
  if (expectedExits_.count(event.runtimeId)) {
    record.running = false;
    return std::nullopt;
  }
  const ReplicaState before = record.state;
  if (!recordExit(record, event.reason, clock_.now(), options_.reconcile.stableAfter)) return std::nullopt;
  spdlog::warn("replica {} ({}) exited: {}; {} → {}", event.slot, event.runtimeId, event.reason, toString(before),
               toString(record.state));
  updateProbesLocked(key, state);
  enqueueLocked(key);
  return stageRingLocked(key, state);
}

std::optional<Controller::RingWrite> Controller::updateAddressLocked(const std::string& key, const std::string& slot,
                                                                     const std::string& runtimeId,
                                                                     const std::string& address) {
  const auto ringIt = rings_.find(key);
  if (ringIt == rings_.end()) return std::nullopt;
  RingState& state = ringIt->second;
  const auto it = state.records.find(slot);
  if (it == state.records.end() || it->second.runtimeId != runtimeId || it->second.address == address) {
    return std::nullopt;
  }
  spdlog::info("replica {} ({}) serves at {}", slot, runtimeId, address);
  it->second.address = address;
  updateProbesLocked(key, state);
  return stageRingLocked(key, state);
}

void Controller::onProbeResult(const ProbeResult& result) {
  std::optional<RingWrite> write;
  {
    std::lock_guard lock(mutex_);
    write = recordProbeLocked(result);
  }
  if (write) commit(*write);
}

std::optional<Controller::RingWrite> Controller::recordProbeLocked(const ProbeResult& result) {
  const auto ringIt = rings_.find(result.ringKey);
  if (ringIt == rings_.end()) return std::nullopt;
  RingState& state = ringIt->second;
  const auto it = state.records.find(result.slot);
  const HashRing* desired = desired_.desired(result.ringKey);
  if (it == state.records.end() || it->second.runtimeId != result.runtimeId || !desired) return std::nullopt;
  ReplicaRecord& record = it->second;
  if (!result.success) {
    metrics_.heartbeatFailed(result.ringKey, result.slot);
    spdlog::debug("heartbeat {} {}: {}", result.slot,
                  desired->spec.healthCheck.grpc ? "grpc.health.v1" : desired->spec.healthCheck.path, result.detail);
  }
  const ReplicaState before = record.state;
  if (!recordProbe(record, desired->spec.healthCheck, result.success, result.detail, clock_.now(),
                   options_.reconcile.stableAfter)) {
    return std::nullopt;
  }
  if (record.state == ReplicaState::Ready) {
    spdlog::info("replica {} at {}: {} → Ready", result.slot, record.address, toString(before));
  } else {
    spdlog::warn("replica {} at {}: {} → {} ({})", result.slot, record.address, toString(before), toString(record.state),
                 record.lastFailure);
  }
  updateProbesLocked(result.ringKey, state);
  enqueueLocked(result.ringKey);
  return stageRingLocked(result.ringKey, state);
}

void Controller::workerLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const Clock::TimePoint now = clock_.now();
    if (now >= nextResync_ && !resyncRunning_) {
      resyncRunning_ = true;
      nextResync_ = now + options_.resync;
      lock.unlock();
      resyncRuntime();
      lock.lock();
      resyncRunning_ = false;
      continue;
    }
    if (auto key = queue_.take(now)) {
      lock.unlock();
      reconcile(*key);
      lock.lock();
      queue_.done(*key);
      wake_.notify_all();
      continue;
    }
    Clock::TimePoint deadline = nextResync_;
    if (const auto next = queue_.nextDeadline(); next && *next < deadline) deadline = *next;
    wake_.wait_until(lock, deadline);
  }
}

void Controller::resyncRuntime() {
  const Clock::TimePoint listedAt = clock_.now();
  auto listed = runtime_.list();
  if (!listed) {
    spdlog::warn("runtime {}: list failed: {}", runtime_.name(), listed.error());
    return;
  }
  std::vector<RingWrite> writes;
  {
    std::lock_guard lock(mutex_);
    writes = applyListingLocked(listed.value(), listedAt);
  }
  for (const auto& write : writes) commit(write);
}

std::vector<Controller::RingWrite> Controller::applyListingLocked(const std::vector<ReplicaInfo>& listed,
                                                                  Clock::TimePoint listedAt) {
  std::vector<RingWrite> writes;
  std::map<std::string, std::vector<const ReplicaInfo*>> byRing;
  for (const auto& info : listed) byRing[keyForReplicaLocked(info.ringNamespace, info.ring)].push_back(&info);
  for (auto& [key, state] : rings_) {
    bool changed = false;
    for (auto& [slot, record] : state.records) {
      if (!record.running || !record.startedAt || *record.startedAt > listedAt) continue;
      const ReplicaInfo* found = nullptr;
      for (const ReplicaInfo* info : byRing[key]) {
        if (info->slot == slot) found = info;
      }
      if (found && found->runtimeId == record.runtimeId && found->running) {
        if (!found->address.empty() && found->address != record.address) {
          record.address = found->address;  // an address event the stream missed
          changed = true;
        }
        continue;
      }
      if (expectedExits_.count(record.runtimeId)) continue;
      // An exit the event stream missed.
      const std::string reason = found && found->runtimeId == record.runtimeId ? found->reason : "vanished from the runtime";
      spdlog::warn("resync: replica {} ({}) is gone: {}", slot, record.runtimeId, reason);
      changed = recordExit(record, reason, clock_.now(), options_.reconcile.stableAfter) || changed;
    }
    if (changed) {
      updateProbesLocked(key, state);
      writes.push_back(stageRingLocked(key, state));
    }
  }
  for (const auto& [key, infos] : byRing) {
    RingState& state = ringLocked(key);
    for (const ReplicaInfo* info : infos) {
      const auto record = state.records.find(info->slot);
      if (record != state.records.end() && record->second.runtimeId == info->runtimeId) continue;
      const bool known = std::any_of(state.unclaimed.begin(), state.unclaimed.end(),
                                     [&](const ReplicaInfo& other) { return other.runtimeId == info->runtimeId; });
      if (!known) state.unclaimed.push_back(*info);
    }
  }
  for (const auto& [key, state] : rings_) queue_.add(key);
  for (const auto& key : desired_.keys()) queue_.add(key);
  wake_.notify_all();
  return writes;
}

void Controller::reconcile(const std::string& key) {
  const auto began = std::chrono::steady_clock::now();
  PlanInput input;
  Plan steps;
  {
    std::lock_guard lock(mutex_);
    RingState& state = ringLocked(key);
    // Unclaimed entries that a record now tracks are stale.
    std::erase_if(state.unclaimed, [&state](const ReplicaInfo& info) {
      const auto it = state.records.find(info.slot);
      return it != state.records.end() && it->second.runtimeId == info.runtimeId;
    });
    if (const HashRing* desired = desired_.desired(key)) input.desired = *desired;
    input.teardown = !input.desired && initialSync_ && desired_.mayTearDown(key);
    for (const auto& [slot, record] : state.records) input.replicas.push_back(record);
    input.unclaimed = state.unclaimed;
    if (const auto published = registry_.get(key)) {
      for (const auto& member : published->members()) {
        input.lastPublished[member.id] = member.state;
        if (member.rampPermille > 0) input.holdingKeys.insert(member.id);
      }
    }
    steps = plan(input, clock_.now(), options_.reconcile);
    for (const auto& action : steps.actions) {
      if (action.kind != Action::Kind::Restart && action.kind != Action::Kind::Stop) continue;
      if (const auto it = state.records.find(action.slot); it != state.records.end() && !it->second.runtimeId.empty()) {
        expectedExits_.insert(it->second.runtimeId);
      }
      for (const auto& info : state.unclaimed) {
        if (info.slot == action.slot) expectedExits_.insert(info.runtimeId);
      }
    }
  }

  bool failed = false;
  const Action* previous = nullptr;
  for (const auto& action : steps.actions) {
    if (action.kind == Action::Kind::Unpublish) {
      RingWrite withdrawal;
      {
        std::lock_guard lock(mutex_);
        withdrawal = stageWithdrawalLocked(key);
      }
      if (auto removed = writeRing(withdrawal); !removed) {
        spdlog::error("ring {}: cannot withdraw: {}", key, removed.error());
        failed = true;
      } else {
        spdlog::info("ring {} withdrawn: {}", key, action.reason);
      }
      continue;
    }
    spdlog::info("{} {}: {}", toString(action.kind), action.slot, action.reason);
    const bool stopAfterStop = previous && previous->kind == Action::Kind::Stop && action.kind == Action::Kind::Stop;
    previous = &action;
    if ((action.kind == Action::Kind::Restart || action.kind == Action::Kind::Stop) && !stopAfterStop) {
      // What earlier steps changed goes out before a step that may block for its
      // grace; consecutive removals go out together.
      RingWrite write;
      {
        std::lock_guard lock(mutex_);
        write = stageRingLocked(key, ringLocked(key));
      }
      writeRing(write);
    }
    const ActionOutcome outcome = executor_.execute(key, action);
    std::lock_guard lock(mutex_);
    RingState& state = ringLocked(key);
    std::string previousId;
    if (const auto it = state.records.find(action.slot); it != state.records.end()) previousId = it->second.runtimeId;
    applyOutcome(state.records, action, outcome, clock_.now(), options_.reconcile);
    if (action.kind == Action::Kind::Adopt || action.kind == Action::Kind::Stop) {
      std::erase_if(state.unclaimed, [&action](const ReplicaInfo& info) { return info.slot == action.slot; });
    }
    if (action.kind == Action::Kind::Restart || action.kind == Action::Kind::Stop) {
      expectedExits_.erase(previousId);
      if (action.countsAsRestart) metrics_.restarted(key, action.slot);
    }
    if (!outcome) {
      failed = true;
      // An API conflict (409) is routine optimistic concurrency: retried, not an error worth a log line.
      const bool conflict = outcome.errorKind() == ErrorKind::Conflict;
      spdlog::log(conflict ? spdlog::level::debug : spdlog::level::err, "{} {} failed: {}", toString(action.kind),
                  action.slot, outcome.error());
    } else if (const auto& replica = outcome.value()) {
      spdlog::info("{} runs as {} at {}", action.slot, replica->runtimeId, replica->address);
    }
  }

  if (input.desired && !applyRingPolicy(key, *input.desired)) failed = true;

  RingWrite write;
  {
    std::lock_guard lock(mutex_);
    write = stageRingLocked(key, ringLocked(key));
  }
  writeRing(write);
  std::optional<Clock::TimePoint> nextRampStep;
  {
    std::lock_guard writing(ringWriteMutex_);
    if (const auto it = nextRampStep_.find(key); it != nextRampStep_.end()) nextRampStep = it->second;
  }
  std::lock_guard lock(mutex_);
  RingState& state = ringLocked(key);
  updateProbesLocked(key, state);
  updateStatusLocked(key, state);
  const Clock::TimePoint now = clock_.now();
  if (input.teardown && state.records.empty() && state.unclaimed.empty() && !registry_.get(key)) {
    prober_.setTargets(key, {});
    metrics_.forgetRing(key);
    desired_.forget(key);
    rings_.erase(key);
  } else {
    if (failed) {
      const auto delay = queue_.addRateLimited(key, now);
      spdlog::warn("ring {}: reconcile failed, retrying in {} ms", key,
                   std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    } else {
      queue_.forget(key);
    }
    if (steps.requeueAt) queue_.addAt(key, *steps.requeueAt);
    if (nextRampStep) queue_.addAt(key, *nextRampStep);
    if (input.desired && input.desired->spec.rollout.paced()) {
      // The moment an absent slot passes the slow-start threshold, its ramp resets.
      const auto threshold = std::chrono::seconds(input.desired->spec.rollout.slowStartAfterSeconds);
      for (const auto& [slot, record] : state.records) {
        if (record.state != ReplicaState::Ready && record.absentSince && *record.absentSince + threshold > now) {
          queue_.addAt(key, *record.absentSince + threshold);
        }
      }
    }
  }
  wake_.notify_all();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  metrics_.reconciled(key, !failed, seconds);
}

bool Controller::applyRingPolicy(const std::string& key, const HashRing& desired) {
  RingPolicy policy;
  policy.ring = desired.metadata.name;
  policy.ringNamespace = desired.metadata.namespace_;
  policy.ringUid = desired.metadata.uid;
  policy.disruptionBudget = effectiveDisruptionBudget(desired.spec.podDisruptionBudget, desired.spec.replicas);
  policy.writtenBudget = desired.spec.podDisruptionBudget;
  const Status applied = runtime_.applyRingPolicy(policy);
  if (!applied) {
    const bool conflict = applied.errorKind() == ErrorKind::Conflict;
    spdlog::log(conflict ? spdlog::level::debug : spdlog::level::err, "ring {}: ring policy: {}", key, applied.error());
  }
  std::lock_guard lock(mutex_);
  RingState& state = ringLocked(key);
  // A conflict is retried, not a degradation worth showing.
  if (applied || applied.errorKind() != ErrorKind::Conflict) {
    state.policyError = applied ? std::nullopt : std::optional<std::string>(applied.error());
  }
  return applied.ok();
}

Controller::RingWrite Controller::stageRingLocked(const std::string& key, const RingState& state) {
  RingWrite write;
  write.key = key;
  write.sequence = ++nextWriteSequence_;
  const HashRing* desired = desired_.desired(key);
  if (!desired) return write;
  std::map<std::string, std::string> lastAddress;
  if (const auto current = registry_.get(key)) {
    for (const auto& member : current->members()) lastAddress[member.id] = member.address;
  }
  write.spec = ringSpecFor(*desired, ringMembersOf(state.records, lastAddress));
  const Rollout& rollout = desired->spec.rollout;
  if (rollout.paced()) {
    write.pace = rollout.keyspacePerStep;
    write.stepInterval = std::chrono::seconds(rollout.stepSeconds);
    const Clock::TimePoint now = clock_.now();
    for (auto& member : write.spec->members) {
      const auto record = state.records.find(member.id);
      if (record == state.records.end()) continue;
      // Slots scaled away ramp down to nothing before the plan drains them.
      if (record->second.ordinal >= static_cast<std::uint32_t>(std::max(desired->spec.replicas, 0))) member.rampPermille = 0;
      const bool absent = record->second.state != ReplicaState::Ready && record->second.absentSince &&
                          now - *record->second.absentSince >= std::chrono::seconds(rollout.slowStartAfterSeconds);
      if (absent) write.rampFromZero.insert(member.id);
    }
  }
  return write;
}

Controller::RingWrite Controller::stageWithdrawalLocked(const std::string& key) {
  RingWrite withdrawal;
  withdrawal.key = key;
  withdrawal.sequence = ++nextWriteSequence_;
  withdrawal.withdraw = true;
  return withdrawal;
}

Status Controller::writeRing(const RingWrite& write) {
  if (!write.spec && !write.withdraw) return ok();
  std::lock_guard lock(ringWriteMutex_);
  // Computed before a write that already went out: that one holds the newer state.
  auto& written = writtenSequence_[write.key];
  if (write.sequence <= written) return ok();
  written = write.sequence;
  if (write.withdraw) return registry_.remove(write.key);
  ring::RingSpec spec = *write.spec;
  if (write.pace > 0) {
    const auto current = registry_.get(write.key);
    std::optional<ring::RingSpec> inForce;
    if (current) {
      inForce = current->spec();
      // A slot absent past the threshold loses its ramp: back, it ramps as a new member would.
      std::erase_if(inForce->members, [&write](const ring::Member& member) { return write.rampFromZero.contains(member.id); });
    }
    const Clock::TimePoint now = clock_.now();
    const auto last = lastRampStep_.find(write.key);
    const bool stepDue = last == lastRampStep_.end() || now - last->second >= write.stepInterval;
    RolloutStep step = nextRolloutStep(inForce ? &*inForce : nullptr, spec, write.pace, stepDue);
    bool rampMoved = false;
    if (current) {
      for (const auto& member : step.spec.members) {
        const auto index = current->indexOf(member.id);
        rampMoved = rampMoved || (index && current->members()[*index].rampPermille != member.rampPermille);
      }
    }
    if (stepDue && rampMoved) lastRampStep_[write.key] = now;
    if (step.settled) {
      nextRampStep_.erase(write.key);
    } else {
      const auto since = lastRampStep_.find(write.key);
      nextRampStep_[write.key] = since == lastRampStep_.end() ? now + write.stepInterval : since->second + write.stepInterval;
    }
    spec = std::move(step.spec);
  } else {
    nextRampStep_.erase(write.key);
  }
  auto published = registry_.publish(write.key, spec);
  if (!published) {
    spdlog::error("ring {}: not published: {}", write.key, published.error());
    return published.failure();
  }
  if (!published->changed) return ok();
  spdlog::info("ring {} v{}: {} (moved {:.1f}% of the keyspace)", write.key, published->version, published->summary,
               100.0 * published->movedKeyspace);
  std::vector<std::pair<std::string, double>> shares;
  if (const auto snapshot = registry_.get(write.key)) {
    for (std::size_t i = 0; i < snapshot->members().size(); ++i) {
      shares.emplace_back(snapshot->members()[i].id, snapshot->shares()[i]);
    }
  }
  metrics_.ringPublished(write.key, published->version, published->movedKeyspace, shares);
  return ok();
}

void Controller::commit(const RingWrite& write) {
  writeRing(write);
  // The status names the version just published.
  std::lock_guard lock(mutex_);
  if (const auto it = rings_.find(write.key); it != rings_.end()) updateStatusLocked(write.key, it->second);
}

void Controller::updateProbesLocked(const std::string& key, const RingState& state) {
  const HashRing* desired = desired_.desired(key);
  std::vector<ProbeTarget> targets;
  if (desired) {
    for (const auto& [slot, record] : state.records) {
      if (!record.running || record.failed || record.address.empty()) continue;
      targets.push_back({key, state.name, slot, record.runtimeId, record.address, desired->spec.healthCheck,
                         record.state == ReplicaState::Starting, desired->spec.protocol});
    }
  }
  prober_.setTargets(key, std::move(targets));
}

void Controller::updateStatusLocked(const std::string& key, RingState& state) {
  state.timeline.observe(state.records, clock_.now(), unixMillisNow());
  const HashRing* desired = desired_.desired(key);
  // Never below a version published before (by us, or by a previous leader), so status.ringVersion never goes back.
  const std::uint64_t version = registry_.lastVersion(key);
  const auto inForce = registry_.get(key);
  HashRingStatus status = ringStatusOf({state.name, desired, state.records, version, desired_.error(key), state.policyError,
                                        inForce ? &inForce->members() : nullptr},
                                       state.status, formatRfc3339(std::chrono::system_clock::now()));
  const bool changed = !(status == state.status);
  state.status = std::move(status);
  metrics_.setReplicas(key, desired ? desired->spec.replicas : 0, state.status.readyReplicas);
  if (!changed) return;
  if (desired) {
    statusWriter_.submit(*desired, state.status);
  } else if (const ObjectMeta* metadata = desired_.invalidMetadata(key)) {
    // Never valid: its status still says why (Degraded InvalidSpec).
    HashRing invalid;
    invalid.metadata = *metadata;
    statusWriter_.submit(invalid, state.status);
  }
}

void Controller::onStatusWriteFailed(const std::string& key, const Error& error) {
  // A conflict (409) is routine optimistic concurrency: retried, not worth a warning.
  spdlog::log(error.kind == ErrorKind::Conflict ? spdlog::level::debug : spdlog::level::warn,
              "ring {}: status not written: {}", key, error.message);
  std::lock_guard lock(mutex_);
  const auto it = rings_.find(key);
  if (it == rings_.end()) return;
  // Retry the write (rate-limited): the next pass must not see it as already done.
  it->second.status.observedGeneration = -1;
  queue_.addRateLimited(key, clock_.now());
  wake_.notify_one();
}

std::optional<HashRingStatus> Controller::status(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = rings_.find(key);
  if (it == rings_.end()) return std::nullopt;
  return it->second.status;
}

Result<std::string> Controller::readiness() const {
  std::lock_guard lock(mutex_);
  if (!initialSync_) return Error::unavailable("not ready: resources not loaded yet");
  if (desired_.errors().empty()) return std::string("ready");
  std::string errors;
  for (const auto& [key, error] : desired_.errors()) errors += "\n" + error;
  if (!options_.invalidResourceMakesUnready) {
    return "ready; invalid resources (each reported on its own status; the last good state keeps running):" + errors;
  }
  return Error::unavailable("not ready: invalid resources (the last good state keeps running):" + errors);
}

json Controller::statusJson() const {
  std::lock_guard lock(mutex_);
  const Clock::TimePoint now = clock_.now();
  const std::int64_t wallNow = unixMillisNow();
  json rings = json::array();
  for (const auto& [key, state] : rings_) {
    const HashRing* desired = desired_.desired(key);
    const auto published = registry_.get(key);
    if (!desired && !published && state.records.empty()) continue;
    rings.push_back(ringPageJson({key, state.name, desired, state.records, state.status, published.get(),
                                  registry_.history(key), desired_.error(key), &state.timeline, now, wallNow}));
  }
  const bool ready = initialSync_ && (desired_.errors().empty() || !options_.invalidResourceMakesUnready);
  return statusPageJson(runtime_.name(), ready, wallNow, std::move(rings),
                        desired_.errors());
}

}  // namespace ringlb::op
