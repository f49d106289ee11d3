#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "ringlb/operator/clock.h"
#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

struct LeaderElectionOptions {
  std::string leaseNamespace = "default";
  std::string leaseName = "ringlb-operator";
  std::string identity;  // unique per replica (Pod name plus a random suffix)
  std::chrono::milliseconds leaseDuration{15'000};
  std::chrono::milliseconds renewDeadline{10'000};
  std::chrono::milliseconds retryPeriod{2'000};
};

/// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
/// timings. Every write carries the Lease's resourceVersion, so a 409 means
/// someone else wrote it: the leader then stops leading at once. A standby
/// judges expiry on its own clock, from when it last saw the Lease change,
/// never from the holder's timestamps (clocks differ between nodes). A leader
/// that cannot renew for renewDeadline stops leading, before any standby
/// (waiting leaseDuration) may take over: each request is bounded by the time
/// left until that deadline, so a hung API server cannot hold it past it.
class LeaderElector {
 public:
  struct Callbacks {
    std::function<void()> onStartedLeading;
    std::function<void()> onStoppedLeading;
    std::function<void(const std::string& holder)> onNewLeader;  // optional, on every observed holder change
  };
  using WallClock = std::function<std::chrono::system_clock::time_point()>;

  LeaderElector(KubernetesApi& api, const Clock& clock, LeaderElectionOptions options, Callbacks callbacks,
                WallClock wallClock = [] { return std::chrono::system_clock::now(); });
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  /// Checks the timing rules (leaseDuration > renewDeadline > retryPeriod > 0)
  /// and that identity is set. Returns an Error naming the flag.
  static Status validate(const LeaderElectionOptions& options);

  /// One acquire-or-renew attempt at clock.now(); runs callbacks on a change
  /// of leadership. Returns when the next attempt is due. Called by the run
  /// thread, or directly by a test in simulated time; not thread-safe.
  Clock::TimePoint step();

  /// Runs step() on a thread, sleeping in real time until each next attempt.
  void start();

  /// Stops the thread. Does not release the Lease (see release()).
  void stop();

  /// Gives the Lease up if this replica holds it (holder cleared, duration
  /// 1 s), so a standby takes over at its next retry instead of waiting out
  /// the lease. Call after all leader work has stopped. Not thread-safe with
  /// step(); call after stop().
  Status release();

  /// Whether this replica currently leads. Thread-safe.
  bool isLeader() const noexcept { return leader_.load(); }

  /// Whether this replica may still act as leader at `now`: it leads and its
  /// last successful renewal is less than renewDeadline old. Stricter than
  /// isLeader(), which turns false only once the renew attempt returns: a
  /// writer checks this before every write, so none goes out after the
  /// deadline even while a renewal hangs (client-go's leader election with
  /// controller-runtime's stop). Thread-safe.
  bool holdsLease(Clock::TimePoint now) const noexcept;

  /// The holder last seen on the Lease. Thread-safe.
  std::string observedHolder() const;

 private:
  struct Record {
    std::string holder;
    std::int64_t leaseDurationSeconds = 0;
    std::string acquireTime;
    std::string renewTime;
    std::int64_t transitions = 0;
    friend bool operator==(const Record&, const Record&) = default;
  };

  std::string leasePath() const;
  nlohmann::json leaseObject(const Record& record, const std::string& resourceVersion) const;
  static Record parseRecord(const nlohmann::json& lease);
  void becomeLeader(const nlohmann::json& lease, Clock::TimePoint now);
  void loseLeadership(const std::string& why);
  void observe(const Record& record, Clock::TimePoint now);
  Result<ApiResponse> send(std::chrono::milliseconds budget, std::string_view method, const std::string& target,
                           const std::string& body);
  void renew(Clock::TimePoint now);
  Clock::TimePoint tryAcquire(Clock::TimePoint now, Clock::TimePoint retryAt);

  KubernetesApi& api_;
  const Clock& clock_;
  const LeaderElectionOptions options_;
  const Callbacks callbacks_;
  const WallClock wallClock_;

  std::atomic<bool> leader_{false};
  Record held_;                 // the record we last wrote as leader
  std::string heldVersion_;     // its resourceVersion
  Clock::TimePoint lastRenew_{};
  std::atomic<Clock::Duration::rep> validUntil_{0};  // lastRenew_ + renewDeadline, for holdsLease()

  mutable std::mutex observedMutex_;
  std::optional<Record> observed_;
  Clock::TimePoint observedAt_{};

  std::mutex stopMutex_;
  std::condition_variable stopCv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ringlb::op
