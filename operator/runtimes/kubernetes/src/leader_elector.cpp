#include "ringlb/operator/leader_elector.h"

#include <spdlog/spdlog.h>

#include "ringlb/operator/kubernetes_status.h"

namespace ringlb::op {

namespace {

using nlohmann::json;

std::int64_t wholeSeconds(std::chrono::milliseconds duration) {
  return std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(duration).count());
}

}  // namespace

LeaderElector::LeaderElector(KubernetesApi& api, const Clock& clock, LeaderElectionOptions options,
                             Callbacks callbacks, WallClock wallClock)
    : api_(api),
      clock_(clock),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      wallClock_(std::move(wallClock)) {}

LeaderElector::~LeaderElector() { stop(); }

Status LeaderElector::validate(const LeaderElectionOptions& options) {
  if (options.identity.empty()) return Error{"--leader-election-id: the identity must not be empty"};
  if (options.leaseName.empty()) return Error{"--leader-election-lease: the Lease name must not be empty"};
  if (options.retryPeriod.count() <= 0) return Error{"--leader-election-retry-period: must be positive"};
  if (options.renewDeadline <= options.retryPeriod) {
    return Error{"--leader-election-renew-deadline: must be greater than the retry period"};
  }
  if (options.leaseDuration <= options.renewDeadline) {
    return Error{"--leader-election-lease-duration: must be greater than the renew deadline"};
  }
  return ok();
}

std::string LeaderElector::leasePath() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + options_.leaseNamespace + "/leases/" + options_.leaseName;
}

bool LeaderElector::holdsLease(Clock::TimePoint now) const noexcept {
  return leader_.load() && now.time_since_epoch().count() < validUntil_.load();
}

std::string LeaderElector::observedHolder() const {
  std::lock_guard lock(observedMutex_);
  return observed_ ? observed_->holder : std::string();
}

LeaderElector::Record LeaderElector::parseRecord(const json& lease) {
  Record record;
  const json spec = lease.value("spec", json::object());
  if (spec.contains("holderIdentity") && spec["holderIdentity"].is_string()) {
    record.holder = spec["holderIdentity"].get<std::string>();
  }
  record.leaseDurationSeconds = spec.value("leaseDurationSeconds", std::int64_t{0});
  if (spec.contains("acquireTime") && spec["acquireTime"].is_string()) {
    record.acquireTime = spec["acquireTime"].get<std::string>();
  }
  if (spec.contains("renewTime") && spec["renewTime"].is_string()) record.renewTime = spec["renewTime"].get<std::string>();
  record.transitions = spec.value("leaseTransitions", std::int64_t{0});
  return record;
}

json LeaderElector::leaseObject(const Record& record, const std::string& resourceVersion) const {
  json metadata = {{"name", options_.leaseName}, {"namespace", options_.leaseNamespace}};
  if (!resourceVersion.empty()) metadata["resourceVersion"] = resourceVersion;
  json spec = {{"holderIdentity", record.holder},
               {"leaseDurationSeconds", record.leaseDurationSeconds},
               {"leaseTransitions", record.transitions}};
  if (!record.acquireTime.empty()) spec["acquireTime"] = record.acquireTime;
  if (!record.renewTime.empty()) spec["renewTime"] = record.renewTime;
  return {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", metadata}, {"spec", spec}};
}

void LeaderElector::observe(const Record& record, Clock::TimePoint now) {
  std::string newHolder;
  {
    std::lock_guard lock(observedMutex_);
    if (observed_ && *observed_ == record) return;
    if (!observed_ || observed_->holder != record.holder) newHolder = record.holder;
    observed_ = record;
    observedAt_ = now;
  }
  if (!newHolder.empty() && callbacks_.onNewLeader) callbacks_.onNewLeader(newHolder);
}

void LeaderElector::becomeLeader(const json& lease, Clock::TimePoint now) {
  held_ = parseRecord(lease);
  heldVersion_ = lease.value("metadata", json::object()).value("resourceVersion", std::string());
  lastRenew_ = now;
  validUntil_ = (now + options_.renewDeadline).time_since_epoch().count();
  observe(held_, now);
  if (!leader_.exchange(true)) {
    spdlog::info("leader election: {} acquired Lease {}/{}", options_.identity, options_.leaseNamespace,
                 options_.leaseName);
    if (callbacks_.onStartedLeading) callbacks_.onStartedLeading();
  }
}

void LeaderElector::loseLeadership(const std::string& why) {
  if (leader_.exchange(false)) {
    spdlog::warn("leader election: {} lost Lease {}/{}: {}", options_.identity, options_.leaseNamespace,
                 options_.leaseName, why);
    if (callbacks_.onStoppedLeading) callbacks_.onStoppedLeading();
  }
}

Clock::TimePoint LeaderElector::step() {
  const auto now = clock_.now();
  const auto retryAt = now + options_.retryPeriod;
  if (leader_) {
    renew(now);
    return retryAt;
  }
  return tryAcquire(now, retryAt);
}

Result<ApiResponse> LeaderElector::send(std::chrono::milliseconds budget, std::string_view method,
                                        const std::string& target, const std::string& body) {
  return api_.requestWithin(budget, method, target, body, body.empty() ? std::string_view() : "application/json");
}

void LeaderElector::renew(Clock::TimePoint now) {
  // Like client-go, every attempt ends by the renew deadline, counted from the
  // last renewal: a hung API server cannot keep us leading past it.
  const auto deadline = lastRenew_ + options_.renewDeadline;
  const auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  Record renewed = held_;
  renewed.renewTime = formatRfc3339(wallClock_(), /*micro=*/true);
  renewed.leaseDurationSeconds = wholeSeconds(options_.leaseDuration);
  auto response = send(budget, "PUT", leasePath(), leaseObject(renewed, heldVersion_).dump());
  if (response && response->success()) {
    const json lease = json::parse(response->body, nullptr, false);
    if (lease.is_object()) {
      becomeLeader(lease, now);  // counted from when the renewal was sent: the earliest a standby can see it
      return;
    }
  }
  if (response && response->status == 409) {
    loseLeadership("the Lease was changed by someone else (409 Conflict)");
    return;
  }
  // Judged after the attempt: it may have taken up to the whole budget.
  if (clock_.now() >= deadline || deadline - clock_.now() < options_.retryPeriod) {
    loseLeadership("could not renew within the renew deadline (" +
                   (response ? "HTTP " + std::to_string(response->status) : response.error()) + ")");
  }
}

Clock::TimePoint LeaderElector::tryAcquire(Clock::TimePoint now, Clock::TimePoint retryAt) {
  const auto budget = options_.renewDeadline;
  const std::string wallNow = formatRfc3339(wallClock_(), /*micro=*/true);
  auto current = send(budget, "GET", leasePath(), {});
  if (!current) {
    spdlog::debug("leader election: get Lease: {}", current.error());
    return retryAt;
  }
  if (current->status == 404) {
    Record record{options_.identity, wholeSeconds(options_.leaseDuration), wallNow, wallNow, 0};
    const std::string create = "/apis/coordination.k8s.io/v1/namespaces/" + options_.leaseNamespace + "/leases";
    auto created = send(budget, "POST", create, leaseObject(record, {}).dump());
    if (created && created->success()) {
      const json lease = json::parse(created->body, nullptr, false);
      if (lease.is_object()) becomeLeader(lease, now);
    }
    return retryAt;  // 409: another replica created it first
  }
  if (!current->success()) {
    spdlog::debug("leader election: get Lease: HTTP {}", current->status);
    return retryAt;
  }
  const json lease = json::parse(current->body, nullptr, false);
  if (!lease.is_object()) return retryAt;
  const Record record = parseRecord(lease);
  observe(record, now);

  Clock::TimePoint expiresAt;
  {
    std::lock_guard lock(observedMutex_);
    expiresAt = observedAt_ + std::chrono::seconds(record.leaseDurationSeconds);
  }
  const bool heldByOther = !record.holder.empty() && record.holder != options_.identity;
  if (heldByOther && now < expiresAt) {
    // Wake exactly at expiry too, so a takeover is not late by up to one retry period.
    return std::min(retryAt, expiresAt);
  }

  Record next = record;
  next.holder = options_.identity;
  next.leaseDurationSeconds = wholeSeconds(options_.leaseDuration);
  next.renewTime = wallNow;
  if (record.holder != options_.identity) {
    next.acquireTime = wallNow;
    next.transitions = record.transitions + 1;
  }
  const std::string version = lease.value("metadata", json::object()).value("resourceVersion", std::string());
  auto updated = send(budget, "PUT", leasePath(), leaseObject(next, version).dump());
  if (updated && updated->success()) {
    const json written = json::parse(updated->body, nullptr, false);
    if (written.is_object()) becomeLeader(written, now);
  }
  return retryAt;  // 409: another standby won the race
}

void LeaderElector::start() {
  thread_ = std::thread([this] {
    while (true) {
      const auto next = step();
      const auto wait = next - clock_.now();
      std::unique_lock lock(stopMutex_);
      if (stopCv_.wait_for(lock, std::max(wait, Clock::Duration::zero()), [this] { return stopping_; })) return;
    }
  });
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(stopMutex_);
    stopping_ = true;
  }
  stopCv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status LeaderElector::release() {
  if (!leader_) return ok();
  Record released = held_;
  released.holder.clear();
  released.leaseDurationSeconds = 1;
  released.renewTime = formatRfc3339(wallClock_(), /*micro=*/true);
  auto response = send(options_.renewDeadline, "PUT", leasePath(), leaseObject(released, heldVersion_).dump());
  leader_ = false;
  const std::string what = "release Lease " + options_.leaseNamespace + "/" + options_.leaseName;
  if (!response) return response.failure().withContext(what);
  if (!response->success()) return apiError(what, response.value());
  spdlog::info("leader election: {} released Lease {}/{}", options_.identity, options_.leaseNamespace,
               options_.leaseName);
  return ok();
}

}  // namespace ringlb::op
