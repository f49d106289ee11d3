#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "ringlb/proxy/asio_types.h"
#include "ringlb/proxy/buffer_pool.h"
#include "ringlb/proxy/chunked_decoder.h"
#include "ringlb/proxy/head_parser.h"
#include "ringlb/proxy/upstream.h"

namespace ringlb::proxy {

template <class Net>
class WorkerState;

/// One client connection: reads requests, routes each by its key on the ring
/// and relays the exchange with a pooled upstream connection, streaming
/// bodies both ways through two pooled buffers. Requests on a connection are
/// served in order (pipelined requests wait in the socket, so pipelining is
/// capped at one buffer). Between requests the session holds no buffer.
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

  /// Serves the connection until either side closes it.
  Task<void> run();

  /// Owns `session` for the coroutine's lifetime (what the acceptor spawns).
  static Task<void> serve(std::unique_ptr<Session> session) { co_await session->run(); }

  /// Watchdog: the deadline passed; aborts the pending I/O so run() sees it.
  void expire() noexcept;
  /// Drain: closes the connection now if it waits for a next request.
  void closeIfIdle() noexcept;
  /// Monotonic (coarse) nanoseconds at which the current phase times out; 0 for none.
  std::int64_t deadline() const noexcept { return deadline_; }

  Session* prev = nullptr;  // the worker's intrusive list
  Session* next = nullptr;

 private:
  enum class Phase : std::uint8_t { Idle, Active, Closed };

  Task<bool> serveOne();
  Task<bool> writeLocal(HttpError error, bool keepAlive, std::uint8_t versionMinor, MemberStats* stats = nullptr);
  Task<void> lingerClose();
  void setDeadline(std::chrono::milliseconds timeout) noexcept;
  void clearDeadline() noexcept { deadline_ = 0; }
  void checkExpired(error_code& ec) const noexcept;
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
  bool expired_ = false;
  bool linger_ = false;  // close after draining what the client still sends (error replies)
  std::int64_t requestStart_ = 0;
  std::uint8_t clientIpLength_ = 0;
  std::array<char, 46> clientIp_{};
};

}  // namespace ringlb::proxy
