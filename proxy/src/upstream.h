#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "asio_types.h"
#include "member_health.h"
#include "proxy_metrics.h"

namespace ringlb::proxy {

/// Resumes a coroutine suspended in WorkerState::awaitSendTurn.
using SendTurn = asio::async_result<asio::use_awaitable_t<Executor>, void()>::handler_type;

template <class Net>
class H2cUpstreamConnection;

/// One keep-alive connection to a member, owned by a worker's pool while idle
/// and by a session while in use.
template <class Net>
struct UpstreamConnection {
  explicit UpstreamConnection(asio::io_context& ioc) : stream(ioc) {}

  typename Net::Stream stream;
  std::int64_t idleSince = 0;    // coarse monotonic nanos, while pooled
  std::uint64_t generation = 0;  // the group's generation when connected
};

/// A worker's view of one member (by id): its pool of idle connections, the
/// requests in flight from this worker, its stats and shared health. Lives as
/// long as the member is in the ring or a request still uses it.
template <class Net>
struct UpstreamGroup {
  std::string id;
  std::string address;
  std::optional<asio::ip::tcp::endpoint> endpoint;
  std::shared_ptr<MemberHealth> health;
  MemberStats* stats = nullptr;
  std::uint64_t generation = 0;  // bumped when the address changes: pooled connections are then dropped
  std::uint32_t inFlight = 0;
  bool inRing = true;
  std::vector<SendTurn> sendTurns;  // sessions waiting to send to this member
  std::vector<std::unique_ptr<UpstreamConnection<Net>>> idle;  // LIFO: the most recently used is reused first
  std::vector<std::shared_ptr<H2cUpstreamConnection<Net>>> h2c;  // an h2c ring's multiplexed connections
};

}  // namespace ringlb::proxy
