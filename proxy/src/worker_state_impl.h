#pragma once

#include <algorithm>
#include <random>

#include <boost/asio/post.hpp>

#include "h2c_upstream.h"
#include "parked_connections.h"
#include "session.h"
#include "worker_state.h"

namespace ringlb::proxy {

template <class Net>
WorkerState<Net>::WorkerState(asio::io_context& ioc, const ProxyConfig& config, Net& net, RingStore& store,
                              ProxyMetrics& metrics, unsigned index)
    : ioc_(ioc),
      config_(config),
      net_(net),
      store_(store),
      metrics_(metrics),
      index_(index),
      limits_{config.limits.maxHeaderBytes, config.limits.maxHeaders},
      ejection_{config.passiveHealth.consecutiveFailures,
                std::chrono::duration_cast<std::chrono::nanoseconds>(config.passiveHealth.baseEjection).count(),
                std::chrono::duration_cast<std::chrono::nanoseconds>(config.passiveHealth.maxEjection).count()},
      // The head must fit with room for leading blank lines; added fields can be as long as the head.
      buffers_(std::max(config.limits.bufferBytes, config.limits.maxHeaderBytes + 1024), config.limits.maxHeaderBytes + 1024,
               config.limits.maxHeaders),
      localStats_(&metrics.memberStats(index, "none")),
      hotKeys_({config.hotKeys.share, config.hotKeys.spread, 8192}),
      rng_(std::random_device{}() ^ (static_cast<std::uint64_t>(index) << 32) ^ static_cast<std::uint64_t>(coarseNanos())) {}

template <class Net>
WorkerState<Net>::~WorkerState() {
  closeIdleConnections();
}

template <class Net>
const std::shared_ptr<const RoutingTable>& WorkerState<Net>::table() {
  if (store_.generation() != generation_) adopt(store_.current());
  return table_;
}

template <class Net>
void WorkerState<Net>::adopt(std::shared_ptr<const RoutingTable> table) {
  if (!table) return;
  generation_ = table->generation;
  for (auto& [id, group] : groups_) group->inRing = false;
  byIndex_.assign(table->routes.size(), nullptr);
  for (std::size_t i = 0; i < table->routes.size(); ++i) {
    const auto& route = table->routes[i];
    auto& group = groups_[route.id];
    if (!group) {
      group = std::make_unique<UpstreamGroup<Net>>();
      group->id = route.id;
      group->stats = &metrics_.memberStats(index_, route.id);
    }
    if (group->address != route.address || group->endpoint != route.endpoint) {
      // A new address is a new replica: never reuse connections to the old one.
      group->address = route.address;
      group->endpoint = route.endpoint;
      ++group->generation;
      group->idle.clear();
      retireH2c(*group);
    }
    group->health = route.health;
    group->inRing = true;
    byIndex_[i] = group.get();
  }
  table_ = std::move(table);
  pruneGroups();
}

template <class Net>
void WorkerState<Net>::pruneGroups() {
  for (auto it = groups_.begin(); it != groups_.end();) {
    auto& group = *it->second;
    if (!group.inRing) {
      group.idle.clear();
      retireH2c(group);
      if (group.inFlight == 0) {
        it = groups_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

template <class Net>
void WorkerState<Net>::endRequest(UpstreamGroup<Net>& group) noexcept {
  --group.inFlight;
  --totalInFlight_;
  if (group.stats != nullptr) group.stats->requestsEnded.add();
  if (!group.inRing && group.inFlight == 0) pruneGroups();
}

template <class Net>
void WorkerState<Net>::queueSendTurn(UpstreamGroup<Net>& group, SendTurn turn) {
  // The waiting session counts as in flight to the group, which therefore outlives the wait.
  // A group is listed exactly while it has waiters, and a release is posted while any group is.
  if (group.sendTurns.empty()) {
    if (sendTurnGroups_.empty()) asio::post(ioc_, [this] { releaseSendTurns(); });
    sendTurnGroups_.push_back(&group);
  }
  group.sendTurns.push_back(std::move(turn));
}

template <class Net>
void WorkerState<Net>::releaseSendTurns() {
  // A resumed session may queue again (a retry): a group not yet reached in this
  // release takes it now, any other in the next release.
  std::swap(releasingGroups_, sendTurnGroups_);
  for (UpstreamGroup<Net>* group : releasingGroups_) {
    std::swap(releasingTurns_, group->sendTurns);
    for (SendTurn& turn : releasingTurns_) turn();  // runs the session up to its next wait
    releasingTurns_.clear();
  }
  releasingGroups_.clear();
}

template <class Net>
void WorkerState<Net>::dropSendTurns() noexcept {
  // A dropped turn hands its session's unwinding to the io_context, whose
  // destruction then destroys the session.
  for (auto& [id, group] : groups_) group->sendTurns.clear();
  sendTurnGroups_.clear();
}

template <class Net>
std::unique_ptr<UpstreamConnection<Net>> WorkerState<Net>::takeIdle(UpstreamGroup<Net>& group, bool verify) {
  while (!group.idle.empty()) {
    auto connection = std::move(group.idle.back());
    group.idle.pop_back();
    if (connection->generation != group.generation) continue;
    if (verify && Net::peek(connection->stream) != Net::Peek::WouldBlock) continue;  // closed, or sent junk
    return connection;
  }
  return nullptr;
}

template <class Net>
void WorkerState<Net>::putIdle(UpstreamGroup<Net>& group, std::unique_ptr<UpstreamConnection<Net>> connection) {
  if (draining_ || !group.inRing || connection->generation != group.generation ||
      group.idle.size() >= config_.limits.maxIdleUpstreamPerMember) {
    return;
  }
  connection->idleSince = coarseNanos();
  group.idle.push_back(std::move(connection));
}

template <class Net>
void WorkerState<Net>::attach(WatchedConnection& session) noexcept {
  session.next = sessions_;
  session.prev = nullptr;
  if (sessions_ != nullptr) sessions_->prev = &session;
  sessions_ = &session;
  ++sessionCount_;
}

template <class Net>
void WorkerState<Net>::detach(WatchedConnection& session) noexcept {
  if (session.prev != nullptr) session.prev->next = session.next;
  else sessions_ = session.next;
  if (session.next != nullptr) session.next->prev = session.prev;
  session.prev = session.next = nullptr;
  --sessionCount_;
}

template <class Net>
void WorkerState<Net>::tick(std::int64_t nowNanos) {
  const std::uint64_t previous = ticks_++;
  // Every tick, over a window of a few ticks (see BufferPool): the buffers a
  // burst left behind are unmapped within about half a second, not two, so
  // an idle connection's memory is its parked session alone soon after its
  // last request.
  buffers_.trim();
  for (WatchedConnection* s = sessions_; s != nullptr;) {
    WatchedConnection* next = s->next;  // neither call frees the session synchronously, but stay safe
    if (s->deadline() != 0 && s->deadline() <= nowNanos) {
      s->expire();
    } else {
      s->parkIfIdleSince(previous);
    }
    s = next;
  }
  if (parking_ != nullptr) parking_->closeExpired(nowNanos);
  const auto idleLimit = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.timeouts.upstreamIdle).count();
  for (auto& [id, group] : groups_) {
    auto& idle = group->idle;
    // Oldest first: the pool is LIFO, so expired connections sit at the front.
    std::size_t expired = 0;
    while (expired < idle.size() && nowNanos - idle[expired]->idleSince > idleLimit) ++expired;
    if (expired > 0) idle.erase(idle.begin(), idle.begin() + static_cast<std::ptrdiff_t>(expired));
    if (!group->h2c.empty()) closeIdleH2c(*group, nowNanos, idleLimit);
  }
}

template <class Net>
void WorkerState<Net>::beginDrain() {
  draining_ = true;
  for (WatchedConnection* s = sessions_; s != nullptr;) {
    WatchedConnection* next = s->next;
    s->closeIfIdle();
    s = next;
  }
  if (parking_ != nullptr) parking_->closeAll();
  closeIdleConnections();
}

template <class Net>
void WorkerState<Net>::closeIdleConnections() {
  for (auto& [id, group] : groups_) {
    group->idle.clear();
    retireH2c(*group);
  }
}

template <class Net>
std::uint64_t WorkerState<Net>::random() noexcept {
  // splitmix64
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace ringlb::proxy
