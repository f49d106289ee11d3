#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/async_result.hpp>

#include "asio_types.h"
#include "buffer_pool.h"
#include "coarse_clock.h"
#include "ringlb/proxy/config.h"
#include "head_parser.h"
#include "hot_key_sketch.h"
#include "member_health.h"
#include "proxy_metrics.h"
#include "ring_store.h"
#include "upstream.h"
#include "watched_connection.h"
#include "ringlb/ring/bounded_load.h"

namespace ringlb::proxy {

class ParkedConnections;

/// Everything one worker thread owns: its cached routing table, its
/// per-member upstream pools and in-flight counts, its buffers, its sessions
/// and their deadlines. Single-threaded: only the worker's io_context thread
/// touches it, so nothing here locks.
template <class Net>
class WorkerState {
 public:
  WorkerState(asio::io_context& ioc, const ProxyConfig& config, Net& net, RingStore& store, ProxyMetrics& metrics,
              unsigned index);
  ~WorkerState();
  WorkerState(const WorkerState&) = delete;
  WorkerState& operator=(const WorkerState&) = delete;

  asio::io_context& ioc() noexcept { return ioc_; }
  const ProxyConfig& config() const noexcept { return config_; }
  Net& net() noexcept { return net_; }
  ProxyMetrics& metrics() noexcept { return metrics_; }
  const HeadLimits& limits() const noexcept { return limits_; }
  const EjectionPolicy& ejection() const noexcept { return ejection_; }
  BufferPool& buffers() noexcept { return buffers_; }
  MemberStats& localStats() noexcept { return *localStats_; }
  unsigned index() const noexcept { return index_; }

  /// The routing table in force, or null. Costs one atomic load unless the
  /// store published a new table, which the worker then adopts (rebinding
  /// its per-member groups by id).
  const std::shared_ptr<const RoutingTable>& table();

  /// The worker's group for member `index` of the table last returned by table().
  UpstreamGroup<Net>& group(std::uint32_t index) noexcept { return *byIndex_[index]; }

  /// Counts a request for key `hash` in the worker's hot-key sketch and
  /// returns its spread rank: 0 (its owner) unless the key is hot, then the
  /// next of 0 … spread−1 in turn. Marks a spread key on the metrics' board.
  std::uint32_t spreadRank(std::uint64_t hash, std::int64_t nowNanos) noexcept {
    const std::uint32_t spread = hotKeys_.observe(hash);
    if (spread <= 1) return 0;
    metrics_.hotKeys.mark(hash, spread, nowNanos);
    return spreadTurn_++ % spread;
  }

  /// In-flight requests per member of the current table, for bounded loads.
  const ring::LoadView& load() const noexcept { return load_; }
  void beginRequest(UpstreamGroup<Net>& group) noexcept {
    ++group.inFlight;
    ++totalInFlight_;
    if (group.stats != nullptr) group.stats->requestsBegun.add();
  }
  void endRequest(UpstreamGroup<Net>& group) noexcept;
  /// Whether requests besides the caller's are in flight. Then a session
  /// yields to the rest of the event-loop pass before it sends: the pass's
  /// reads all run first and their sends leave together, so a member or a
  /// client wakes once for several messages rather than once per message.
  /// Alone, it sends at once: a yield costs a poll.
  bool othersInFlight() const noexcept { return totalInFlight_ > 1; }
  /// The yield before a request goes to a member: resumes, at the end of
  /// the pass, the sessions waiting for each member one after another, so
  /// the requests for one member leave back to back while it is still
  /// waking for the first, and the member wakes fewer times per request.
  auto awaitSendTurn(UpstreamGroup<Net>& group) {
    return asio::async_initiate<const asio::use_awaitable_t<Executor>&, void()>(
        [this, &group](SendTurn turn) { queueSendTurn(group, std::move(turn)); }, kUseTask);
  }
  /// Gives up the sessions still waiting for a send turn; call before the
  /// io_context is destroyed, which then destroys them.
  void dropSendTurns() noexcept;
  /// Whether any request is in flight. A session that has just answered
  /// then yields before it reads the client's next request: the rest of the
  /// pass and one more poll run first, and by then the client has often sent
  /// it, which saves a recv that would find nothing.
  bool anyInFlight() const noexcept { return totalInFlight_ > 0; }

  /// The most recently pooled connection to `group`, or null. With `verify`
  /// (requests that cannot be retried) it first checks, with one
  /// non-blocking peek, that the member has not closed it; idempotent
  /// requests skip the syscall and are retried afresh if it was stale.
  std::unique_ptr<UpstreamConnection<Net>> takeIdle(UpstreamGroup<Net>& group, bool verify);
  /// Pools a connection after a complete exchange (or drops it if the pool is full or draining).
  void putIdle(UpstreamGroup<Net>& group, std::unique_ptr<UpstreamConnection<Net>> connection);

  /// Where idle plaintext connections park as compact records, or null
  /// (sessions then park as themselves, holding a readiness wait). The
  /// owner sets it before serving and keeps it alive while the worker runs.
  void useParking(ParkedConnections* parking) noexcept { parking_ = parking; }
  ParkedConnections* parking() const noexcept { return parking_; }

  void attach(WatchedConnection& session) noexcept;
  void detach(WatchedConnection& session) noexcept;
  std::size_t sessionCount() const noexcept { return sessionCount_; }

  /// The watchdog: expires sessions whose deadline passed, parks sessions
  /// idle since the previous tick and closes pooled connections idle too
  /// long. Called periodically by the owner.
  void tick(std::int64_t nowNanos);
  std::uint64_t tickCount() const noexcept { return ticks_; }

  /// Stops keep-alive: idle sessions close now, active ones after their response.
  void beginDrain();
  bool draining() const noexcept { return draining_; }

  /// Closes every pooled connection (before the io_context goes away).
  void closeIdleConnections();

  /// Fast per-worker random numbers (request ids).
  std::uint64_t random() noexcept;

 private:
  class InFlightView final : public ring::LoadView {
   public:
    explicit InFlightView(const WorkerState& state) : state_(state) {}
    std::uint64_t inFlight(std::uint32_t index) const noexcept override { return state_.byIndex_[index]->inFlight; }
    std::uint64_t totalInFlight() const noexcept override { return state_.totalInFlight_; }

   private:
    const WorkerState& state_;
  };

  void adopt(std::shared_ptr<const RoutingTable> table);
  void queueSendTurn(UpstreamGroup<Net>& group, SendTurn turn);
  void releaseSendTurns();
  void pruneGroups();

  asio::io_context& ioc_;
  const ProxyConfig& config_;
  Net& net_;
  RingStore& store_;
  ProxyMetrics& metrics_;
  unsigned index_;
  HeadLimits limits_;
  EjectionPolicy ejection_;
  BufferPool buffers_;
  MemberStats* localStats_;
  HotKeySketch hotKeys_;
  std::uint32_t spreadTurn_ = 0;

  std::shared_ptr<const RoutingTable> table_;
  std::uint64_t generation_ = 0;
  std::unordered_map<std::string, std::unique_ptr<UpstreamGroup<Net>>> groups_;
  std::vector<UpstreamGroup<Net>*> byIndex_;
  std::uint64_t totalInFlight_ = 0;
  InFlightView load_{*this};

  WatchedConnection* sessions_ = nullptr;  // intrusive list: plaintext and TLS sessions
  ParkedConnections* parking_ = nullptr;
  std::size_t sessionCount_ = 0;
  bool draining_ = false;
  std::uint64_t ticks_ = 1;
  std::uint64_t rng_;

  std::vector<UpstreamGroup<Net>*> sendTurnGroups_;  // groups with waiting sessions, in order of first arrival
  std::vector<UpstreamGroup<Net>*> releasingGroups_;
  std::vector<SendTurn> releasingTurns_;
};

}  // namespace ringlb::proxy
