#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "asio_types.h"
#include "buffer_pool.h"
#include "deadline.h"
#include "http_message.h"
#include "ringlb/proxy/config.h"
#include "session_fwd.h"
#include "watched_connection.h"

namespace ringlb::proxy {

template <class Net>
class WorkerState;
struct MemberStats;
class ParkedConnections;

/// One HTTP/1.1 client connection: the loop around the exchanges
/// (keep-alive, pipelining, parking, the upgrade tunnel). Each request is an
/// Exchange driven through an Http1Request, which reads the head from, and
/// streams the body through, the session's pooled input buffer. Requests on
/// a connection are served in order (pipelined requests wait in the socket,
/// so pipelining is capped at one buffer). Between requests the session
/// holds no buffer.
///
/// A request that may switch protocols (WebSocket) and gets a 101 from its
/// member turns the connection into a tunnel to that member: bytes flow both
/// ways until both sides have closed, either fails, or no byte moved for the
/// tunnel timeout.
///
/// A connection idle for a couple of watchdog ticks is parked: its coroutine
/// ends and, for a plaintext connection, the session too: the worker's
/// ParkedConnections keeps its descriptor, address and idle deadline (about
/// 40 bytes), and its next request builds a session again. A TLS session
/// (whose socket is its TLS connection's bridge) parks as itself, holding one
/// readiness wait.
///
/// `Client` is the policy of the client's stream (TcpNet, or TlsClient for
/// the TLS listener, whose session first runs the handshake under the head
/// timeout, takes what ALPN chose, and ends with close_notify); `Net` is the
/// upstream transport. Each is a template argument, so the plaintext session
/// has no TLS branch.
///
/// Time limits are deadlines checked by the worker's watchdog (`tick`), not
/// timers per operation. The data plane never throws: every failure ends in
/// a local reply (400/408/413/414/417/431/502/503/504) or a close.
/// Single-threaded: lives on its worker's io_context.
template <class Net, class Client>
class Session final : public WatchedConnection {
 public:
  using Stream = typename Net::Stream;  // upstream
  using ClientStream = typename Client::Stream;

  Session(WorkerState<Net>& worker, ClientStream client, std::string_view clientIp);
  /// Resumes a keep-alive connection that was parked as a record (see
  /// ParkedConnections): between requests, with the idle deadline it had.
  Session(WorkerState<Net>& worker, ClientStream client, std::string_view clientIp, std::int64_t idleDeadline);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Serves the connection until either side closes it or it goes idle long
  /// enough to park. Returns true to park.
  Task<bool> run();

  /// Starts serving `session` on its worker's io_context (what the acceptor calls).
  static void spawn(std::unique_ptr<Session> session);

  // WatchedConnection
  void expire() noexcept override;
  void parkIfIdleSince(std::uint64_t beforeTick) noexcept override;
  void closeIfIdle() noexcept override;
  std::int64_t deadline() const noexcept override { return h2_ == nullptr ? deadline_.at() : http2Deadline(); }

 private:
  friend class Http1Request<Net, Client>;
  friend class Http2Connection<Net, Client>;
  enum class Phase : std::uint8_t { Idle, Active, Closed };
  enum class Protocol : std::uint8_t { Http1, Http2, Closed };

  static Task<void> serve(std::unique_ptr<Session> session);
  static void park(std::unique_ptr<Session> session);
  /// TLS: ends a parked connection that timed out or drained, with close_notify.
  static Task<void> closeParked(std::unique_ptr<Session> session)
    requires Client::kTls;
  /// Hands the connection to `parking` as a record; the session then ends.
  /// Cold: once per idle period, kept out of the request path's inlining.
  /// Plaintext only: a TLS connection's OpenSSL state cannot become a record.
  [[gnu::cold]] void parkAsRecord(ParkedConnections& parking) noexcept
    requires(!Client::kTls);
  /// Writes a locally generated answer; `bodiless` (an answer to HEAD) leaves its body out.
  Task<bool> writeLocal(HttpError error, bool keepAlive, bool bodiless, MemberStats* stats = nullptr);
  Task<void> lingerClose()
    requires(!Client::kTls);
  /// TLS: the handshake, under the head timeout; then what ALPN chose. Returns whether it succeeded.
  Task<bool> handshake()
    requires Client::kTls;
  /// TLS: sends close_notify and waits at most `grace` for the client's.
  Task<void> closeNotify(std::chrono::milliseconds grace)
    requires Client::kTls;
  /// Whether the first bytes may be the HTTP/2 preface (or the listener speaks only h2c).
  bool mayBeHttp2() const noexcept;
  /// Reads the rest of a partial preface. Says which protocol the connection speaks.
  Task<Protocol> sniffProtocol();
  /// Serves the connection as HTTP/2 until it closes.
  Task<void> serveHttp2();
  std::int64_t http2Deadline() const noexcept;
  Task<void> tunnel(Stream& upstream);
  /// One direction of a tunnel, `From` and `To` being the streams' policies
  /// (Client or Net); `first[begin, end)` holds bytes to send before reading.
  template <class From, class To>
  Task<void> pump(typename From::Stream& from, typename To::Stream& to, std::unique_ptr<IoBuffer> first,
                  std::uint32_t begin, std::uint32_t end);
  /// After a yield before a read: the watchdog expired the session or asked
  /// it to park meanwhile and, with no read pending, had nothing to abort.
  /// The caller then skips its read.
  bool interruptedWhileYielding() const noexcept { return deadline_.expired() || parkRequested_; }
  void releaseInput() noexcept;
  std::string_view clientIp() const noexcept { return {clientIp_.data(), clientIpLength_}; }

  WorkerState<Net>& worker_;
  ClientStream client_;
  std::unique_ptr<IoBuffer> in_;
  std::uint32_t inBegin_ = 0;  // unconsumed client bytes are in_[inBegin_, inEnd_)
  std::uint32_t inEnd_ = 0;
  Deadline<Net> deadline_;
  Http2Connection<Net, Client>* h2_ = nullptr;  // while the connection speaks HTTP/2
  Phase phase_ = Phase::Idle;
  ListenerProtocol protocol_;
  bool secure_ = Client::kTls;  // X-Forwarded-Proto: https
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
