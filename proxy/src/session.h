#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "asio_types.h"
#include "buffer_pool.h"
#include "chunked_decoder.h"
#include "head_parser.h"
#include "upstream.h"

namespace ringlb::proxy {

template <class Net>
class WorkerState;

/// One client connection: reads requests, routes each by its key on the ring
/// and relays the exchange with a pooled upstream connection, streaming
/// bodies both ways through two pooled buffers. Requests on a connection are
/// served in order (pipelined requests wait in the socket, so pipelining is
/// capped at one buffer). Between requests the session holds no buffer.
///
/// A request that may switch protocols (WebSocket) and gets a 101 from its
/// member turns the connection into a tunnel to that member: bytes flow both
/// ways until both sides have closed, either fails, or no byte moved for the
/// tunnel timeout.
///
/// A connection idle for a couple of watchdog ticks is parked: its coroutine
/// ends and a plain readiness wait holding only the session object takes its
/// place, so an idle keep-alive connection costs the session, its socket and
/// one pending wait. The next request spawns the coroutine again.
///
/// Time limits are deadlines checked by the worker's watchdog (`tick`), not
/// timers per operation. The data plane never throws: every failure ends in
/// a local reply (400/408/413/414/417/431/502/503/504) or a close.
/// Single-threaded: lives on its worker's io_context.
template <class Net>
class Session {
 public:
  using Stream = typename Net::Stream;

  Session(WorkerState<Net>& worker, Stream client, std::string_view clientIp);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Serves the connection until either side closes it or it goes idle long
  /// enough to park. Returns true to park.
  Task<bool> run();

  /// Starts serving `session` on its worker's io_context (what the acceptor calls).
  static void spawn(std::unique_ptr<Session> session);

  /// Watchdog: the deadline passed; aborts the pending I/O so run() sees it.
  void expire() noexcept;
  /// Watchdog: parks the session if it has waited idle since tick `beforeTick`.
  void parkIfIdleSince(std::uint64_t beforeTick) noexcept;
  /// Drain: closes the connection now if it waits for a next request.
  void closeIfIdle() noexcept;
  /// Monotonic (coarse) nanoseconds at which the current phase times out; 0 for none.
  std::int64_t deadline() const noexcept { return deadline_; }

  Session* prev = nullptr;  // the worker's intrusive list
  Session* next = nullptr;

 private:
  enum class Phase : std::uint8_t { Idle, Active, Closed };
  enum class Waiting : std::uint8_t { Client, Upstream, Tunnel };  // Tunnel: both streams

  static Task<void> serve(std::unique_ptr<Session> session);
  static void park(std::unique_ptr<Session> session);
  Task<bool> serveOne();
  Task<bool> writeLocal(HttpError error, bool keepAlive, std::uint8_t versionMinor, MemberStats* stats = nullptr);
  Task<void> lingerClose();
  Task<void> tunnel(Stream& upstream);
  /// One direction of a tunnel; `first[begin, end)` holds bytes to send before reading.
  Task<void> pump(Stream& from, Stream& to, std::unique_ptr<IoBuffer> first, std::uint32_t begin, std::uint32_t end);
  void setDeadline(std::chrono::milliseconds timeout) noexcept;
  void clearDeadline() noexcept { deadline_ = 0; }
  void checkExpired(error_code& ec) const noexcept;
  /// After a yield before a read: the watchdog expired the session or asked
  /// it to park meanwhile and, with no read pending, had nothing to abort.
  /// The caller then skips its read.
  bool interruptedWhileYielding() const noexcept { return expired_ || parkRequested_; }
  void releaseInput() noexcept;
  std::string_view clientIp() const noexcept { return {clientIp_.data(), clientIpLength_}; }

  WorkerState<Net>& worker_;
  Stream client_;
  std::unique_ptr<IoBuffer> in_;
  std::uint32_t inBegin_ = 0;  // unconsumed client bytes are in_[inBegin_, inEnd_)
  std::uint32_t inEnd_ = 0;
  typename Net::Stream* upstream_ = nullptr;  // the attempt's upstream stream, for expire()
  std::int64_t deadline_ = 0;
  Phase phase_ = Phase::Idle;
  Waiting waiting_ = Waiting::Client;  // which stream the pending operation is on
  bool expired_ = false;
  bool linger_ = false;  // close after draining what the client still sends (error replies)
  bool fresh_ = true;    // no request yet: the head timeout applies to the first wait
  bool parkRequested_ = false;
  bool parked_ = false;
  bool tunnelBroken_ = false;  // one direction of a tunnel failed: both end
  std::uint64_t idleTick_ = 0;  // watchdog tick at which the current idle wait began
  std::int64_t requestStart_ = 0;
  std::uint8_t clientIpLength_ = 0;
  std::array<char, 46> clientIp_{};
};

}  // namespace ringlb::proxy
