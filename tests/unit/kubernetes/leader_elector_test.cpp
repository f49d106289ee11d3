#include "ringlb/operator/leader_elector.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "fake_kubernetes_api.h"

namespace ringlb::op {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;

/// The Lease endpoints of an API server: create, get, update with
/// resourceVersion preconditions (409 on a stale one). Shared by the
/// electors under test; `down` makes it fail for one identity's writes.
class LeaseServer {
 public:
  Result<ApiResponse> handle(const std::string& identity, const std::string& method, const std::string& body,
                             std::optional<milliseconds> budget = std::nullopt) {
    ++requests;
    if (unreachable.contains(identity)) return Error{"connection refused"};
    if (hanging.contains(identity)) {
      // The server accepts the connection and never answers: the request ends
      // when the caller's budget runs out, else after the client's own
      // timeouts (10 s connect + 30 s request).
      const milliseconds took = budget ? std::min(*budget, milliseconds(40'000)) : milliseconds(40'000);
      longest = std::max(longest, took);
      if (whileHanging) {
        // Time passes in small steps, so a test can look at the elector meanwhile.
        for (milliseconds passed{0}; passed < took; passed += milliseconds(100)) {
          clock->advance(std::min(milliseconds(100), took - passed));
          whileHanging(clock->now());
        }
      } else {
        clock->advance(took);
      }
      return Error::transient("request timed out");
    }
    if (method == "GET") {
      if (!lease) return ApiResponse{404, R"({"kind":"Status","code":404})", ""};
      return ApiResponse{200, lease->dump(), ""};
    }
    json object = json::parse(body);
    if (method == "POST") {
      if (lease) return ApiResponse{409, R"({"kind":"Status","code":409,"reason":"AlreadyExists"})", ""};
      object["metadata"]["resourceVersion"] = std::to_string(++version);
      lease = object;
      return ApiResponse{201, lease->dump(), ""};
    }
    if (method == "PUT") {
      if (!lease) return ApiResponse{404, "{}", ""};
      if (object["metadata"].value("resourceVersion", "") != (*lease)["metadata"]["resourceVersion"]) {
        return ApiResponse{409, R"({"kind":"Status","code":409,"reason":"Conflict"})", ""};
      }
      object["metadata"]["resourceVersion"] = std::to_string(++version);
      lease = object;
      return ApiResponse{200, lease->dump(), ""};
    }
    return ApiResponse{405, "{}", ""};
  }

  std::string holder() const { return lease ? (*lease)["spec"].value("holderIdentity", "") : ""; }

  std::optional<json> lease;
  std::uint64_t version = 100;
  std::set<std::string> unreachable;
  std::set<std::string> hanging;
  FakeClock* clock = nullptr;
  std::function<void(Clock::TimePoint)> whileHanging;  // called as simulated time passes in a hanging request
  milliseconds longest{0};
  int requests = 0;
};

/// One operator replica: its own API view onto the shared server and its elector.
struct Candidate {
  Candidate(LeaseServer& server, FakeClock& clock, const std::string& id) : identity(id) {
    api.onRequest = [&server, id](const testing::FakeKubernetesApi::Call& call) {
      return server.handle(id, call.method, call.body, call.budget);
    };
    LeaderElectionOptions options;
    options.leaseNamespace = "ringlb-system";
    options.identity = id;
    LeaderElector::Callbacks callbacks;
    callbacks.onStartedLeading = [this, &clock] {
      leading = true;
      ++started;
      startedAt = clock.now();
    };
    callbacks.onStoppedLeading = [this, &clock] {
      leading = false;
      ++stopped;
      stoppedAt = clock.now();
    };
    elector = std::make_unique<LeaderElector>(api, clock, options, callbacks);
    next = clock.now();
  }

  std::string identity;
  testing::FakeKubernetesApi api;
  std::unique_ptr<LeaderElector> elector;
  Clock::TimePoint next;
  bool alive = true;
  bool leading = false;
  int started = 0;
  int stopped = 0;
  Clock::TimePoint startedAt{};
  Clock::TimePoint stoppedAt{};
};

/// Runs every live candidate's step() at its due time until `until`,
/// checking that two never lead at once.
void simulate(FakeClock& clock, std::vector<Candidate*> candidates, Clock::TimePoint until) {
  while (true) {
    Candidate* due = nullptr;
    for (auto* c : candidates) {
      if (c->alive && (due == nullptr || c->next < due->next)) due = c;
    }
    if (due == nullptr || due->next > until) break;
    if (due->next > clock.now()) clock.set(due->next);
    due->next = due->elector->step();
    int leaders = 0;
    for (auto* c : candidates) leaders += (c->alive && c->leading) ? 1 : 0;
    ASSERT_LE(leaders, 1) << "two leaders at once";
  }
  if (clock.now() < until) clock.set(until);
}

TEST(LeaderElector, ValidatesTimings) {
  LeaderElectionOptions options;
  options.identity = "a";
  EXPECT_TRUE(LeaderElector::validate(options).ok());
  options.renewDeadline = seconds(20);
  EXPECT_NE(LeaderElector::validate(options).error().find("lease-duration"), std::string::npos);
  options.renewDeadline = seconds(1);
  EXPECT_NE(LeaderElector::validate(options).error().find("renew-deadline"), std::string::npos);
  options = {};
  EXPECT_NE(LeaderElector::validate(options).error().find("id"), std::string::npos);
}

TEST(LeaderElector, FirstCandidateCreatesTheLeaseAndRenewsEveryRetryPeriod) {
  FakeClock clock;
  LeaseServer server;
  Candidate a(server, clock, "a");
  const auto t0 = clock.now();
  simulate(clock, {&a}, t0 + seconds(10));
  EXPECT_TRUE(a.leading);
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(server.holder(), "a");
  EXPECT_EQ((*server.lease)["spec"]["leaseDurationSeconds"], 15);
  // Create at t0, then one renewal every 2 s: t0+2 ... t0+10.
  EXPECT_EQ(a.api.callsWith("PUT").size(), 5u);
  EXPECT_EQ(a.api.callsWith("GET").size(), 1u);  // the leader renews with its cached resourceVersion
}

TEST(LeaderElector, StandbyTakesOverWithinLeasePlusRetryAfterTheLeaderDies) {
  // Try every phase of the leader's death relative to the standby's polling.
  for (int offsetMs = 0; offsetMs < 2000; offsetMs += 250) {
    FakeClock clock;
    LeaseServer server;
    Candidate a(server, clock, "a");
    Candidate b(server, clock, "b");
    const auto t0 = clock.now();
    b.next = t0 + milliseconds(offsetMs);
    simulate(clock, {&a, &b}, t0 + seconds(30));
    ASSERT_TRUE(a.leading);
    ASSERT_FALSE(b.leading);
    // Kill the leader just after a renewal (the worst case) plus a phase shift.
    const auto killAt = clock.now() + milliseconds(offsetMs / 2);
    simulate(clock, {&a, &b}, killAt);
    a.alive = false;
    simulate(clock, {&b}, killAt + seconds(40));
    ASSERT_TRUE(b.leading) << "offset " << offsetMs;
    const auto takeover = b.startedAt - killAt;
    EXPECT_LE(takeover, seconds(17)) << "offset " << offsetMs;
    // Never before the lease could have expired: the leader's last renewal was at most 2 s before death.
    EXPECT_GE(takeover, seconds(13)) << "offset " << offsetMs;
    EXPECT_EQ(server.holder(), "b");
    EXPECT_EQ((*server.lease)["spec"]["leaseTransitions"], 1);
  }
}

TEST(LeaderElector, StandbyIgnoresTheHoldersTimestamps) {
  // The holder's clock is a day behind: a standby judging by renewTime would take over at once.
  FakeClock clock;
  LeaseServer server;
  Candidate a(server, clock, "a");
  const auto t0 = clock.now();
  simulate(clock, {&a}, t0 + seconds(1));
  (*server.lease)["spec"]["renewTime"] = "2000-01-01T00:00:00.000000Z";
  Candidate b(server, clock, "b");
  b.next = clock.now();
  simulate(clock, {&b}, clock.now() + seconds(14));
  EXPECT_FALSE(b.leading);
  simulate(clock, {&b}, clock.now() + seconds(3));
  EXPECT_TRUE(b.leading);
}

TEST(LeaderElector, LeaderThatCannotRenewStepsDownBeforeAStandbyTakesOver) {
  FakeClock clock;
  LeaseServer server;
  Candidate a(server, clock, "a");
  Candidate b(server, clock, "b");
  const auto t0 = clock.now();
  simulate(clock, {&a, &b}, t0 + seconds(6));
  ASSERT_TRUE(a.leading);
  const auto partitionedAt = clock.now();
  server.unreachable.insert("a");  // a's requests fail; it keeps running
  simulate(clock, {&a, &b}, partitionedAt + seconds(40));
  EXPECT_EQ(a.stopped, 1);
  EXPECT_TRUE(b.leading);
  // a stops within the renew deadline (plus one retry); b starts only after a stopped.
  EXPECT_LE(a.stoppedAt - partitionedAt, seconds(12));
  EXPECT_GE(a.stoppedAt - partitionedAt, seconds(8));
  EXPECT_GT(b.startedAt, a.stoppedAt);
}

TEST(LeaderElector, ConflictMeansLeadershipIsLost) {
  FakeClock clock;
  LeaseServer server;
  Candidate a(server, clock, "a");
  simulate(clock, {&a}, clock.now() + seconds(3));
  ASSERT_TRUE(a.leading);
  // Someone else rewrites the Lease: a's next renewal carries a stale resourceVersion.
  (*server.lease)["spec"]["holderIdentity"] = "intruder";
  (*server.lease)["metadata"]["resourceVersion"] = "999";
  a.next = clock.now();
  a.next = a.elector->step();
  EXPECT_FALSE(a.leading);
  EXPECT_EQ(a.stopped, 1);
  EXPECT_FALSE(a.elector->isLeader());
}

TEST(LeaderElector, ReleaseLetsAStandbyTakeOverAtItsNextRetry) {
  FakeClock clock;
  LeaseServer server;
  Candidate a(server, clock, "a");
  Candidate b(server, clock, "b");
  const auto t0 = clock.now();
  b.next = t0 + milliseconds(700);
  simulate(clock, {&a, &b}, t0 + seconds(9));
  ASSERT_TRUE(a.leading);
  ASSERT_TRUE(a.elector->release().ok());
  EXPECT_FALSE(a.elector->isLeader());
  EXPECT_EQ(server.holder(), "");
  EXPECT_EQ((*server.lease)["spec"]["leaseDurationSeconds"], 1);
  a.alive = false;
  const auto releasedAt = clock.now();
  simulate(clock, {&b}, releasedAt + seconds(5));
  ASSERT_TRUE(b.leading);
  EXPECT_LE(b.startedAt - releasedAt, seconds(2));
}

TEST(LeaderElector, StandbyPollsButNeverWritesWhileTheLeaseIsHeld) {
  FakeClock clock;
  LeaseServer server;
  Candidate a(server, clock, "a");
  Candidate b(server, clock, "b");
  simulate(clock, {&a, &b}, clock.now() + seconds(60));
  EXPECT_TRUE(a.leading);
  EXPECT_FALSE(b.leading);
  EXPECT_EQ(b.started, 0);
  EXPECT_TRUE(b.api.callsWith("PUT").empty());
  EXPECT_LE(b.api.callsWith("POST").size(), 1u);
  EXPECT_EQ(b.elector->observedHolder(), "a");
}

TEST(LeaderElector, ALeaderWhoseApiServerHangsStopsLeadingBeforeTheLeaseCouldExpire) {
  // Every phase of the hang relative to the last renewal.
  for (int offsetMs = 0; offsetMs < 2000; offsetMs += 250) {
    FakeClock clock;
    LeaseServer server;
    server.clock = &clock;
    Candidate a(server, clock, "a");
    const auto t0 = clock.now();
    simulate(clock, {&a}, t0 + seconds(6) + milliseconds(offsetMs));
    ASSERT_TRUE(a.leading);
    const auto lastRenewal = t0 + seconds(6);  // renewals every 2 s from t0
    server.hanging.insert("a");  // a's API server stops answering; a keeps running
    // A standby that saw the last renewal may take over 15 s after it.
    const auto standbyMayLeadAt = lastRenewal + seconds(15);
    while (a.leading && clock.now() < lastRenewal + seconds(60)) {
      if (a.next > clock.now()) clock.set(a.next);
      a.next = a.elector->step();
    }
    EXPECT_FALSE(a.leading) << "offset " << offsetMs;
    EXPECT_LE(a.stoppedAt, lastRenewal + seconds(10)) << "offset " << offsetMs << ": within the renew deadline";
    EXPECT_LT(a.stoppedAt, standbyMayLeadAt) << "offset " << offsetMs;
    EXPECT_LE(server.longest, seconds(10)) << "no attempt outlives the renew deadline";
  }
}

TEST(LeaderElector, HoldsTheLeaseForWritesOnlyUntilTheRenewDeadlineEvenWhileARenewalHangs) {
  FakeClock clock;
  LeaseServer server;
  server.clock = &clock;
  Candidate a(server, clock, "a");
  const auto t0 = clock.now();
  EXPECT_FALSE(a.elector->holdsLease(t0)) << "a standby never writes";
  simulate(clock, {&a}, t0 + seconds(6));
  ASSERT_TRUE(a.elector->holdsLease(clock.now()));
  const auto lastRenewal = t0 + seconds(6);
  server.hanging.insert("a");
  std::optional<Clock::TimePoint> lastHeld;
  std::optional<Clock::TimePoint> firstRefused;
  server.whileHanging = [&](Clock::TimePoint now) {
    // isLeader() still says yes here: the renewal has not returned.
    if (a.elector->holdsLease(now)) {
      EXPECT_FALSE(firstRefused) << "held again after lapsing";
      lastHeld = now;
    } else if (!firstRefused) {
      firstRefused = now;
      EXPECT_TRUE(a.elector->isLeader());
    }
  };
  while (a.leading && clock.now() < lastRenewal + seconds(60)) {
    if (a.next > clock.now()) clock.set(a.next);
    a.next = a.elector->step();
  }
  ASSERT_TRUE(lastHeld && firstRefused);
  EXPECT_LT(*lastHeld, lastRenewal + seconds(10));
  EXPECT_EQ(*firstRefused, lastRenewal + seconds(10));
  EXPECT_FALSE(a.elector->holdsLease(clock.now()));
}

TEST(LeaderElector, EveryLeaseRequestIsBoundedByTheRenewDeadline) {
  FakeClock clock;
  LeaseServer server;
  server.clock = &clock;
  Candidate a(server, clock, "a");
  Candidate b(server, clock, "b");
  simulate(clock, {&a, &b}, clock.now() + seconds(9));
  for (auto* candidate : {&a, &b}) {
    for (const auto& call : candidate->api.calls) {
      ASSERT_TRUE(call.budget.has_value()) << call.method << " without a time limit";
      EXPECT_LE(*call.budget, seconds(10));
      EXPECT_GT(*call.budget, milliseconds(0));
    }
  }
}

}  // namespace
}  // namespace ringlb::op
