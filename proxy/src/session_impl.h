#pragma once

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "access_log.h"
#include "exchange.h"
#include "http1_request.h"
#include "http2_connection.h"
#include "parked_connections.h"
#include "session.h"
#include "worker_state.h"

namespace ringlb::proxy {

namespace detail {

inline constexpr std::chrono::milliseconds kLingerTime{1000};
inline constexpr std::size_t kLingerBytes = 1 << 20;
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// How long a TLS client gets to answer our close_notify before the TCP close.
inline constexpr std::chrono::milliseconds kCloseNotifyGrace{1000};

}  // namespace detail

template <class Net, class Client>
Session<Net, Client>::Session(WorkerState<Net>& worker, ClientStream client, std::string_view clientIp)
    : worker_(worker), client_(std::move(client)), protocol_(worker.config().listenProtocol) {
  const auto n = std::min(clientIp.size(), clientIp_.size());
  std::memcpy(clientIp_.data(), clientIp.data(), n);
  clientIpLength_ = static_cast<std::uint8_t>(n);
  Client::setNonBlocking(client_);
  worker_.attach(*this);
  worker_.metrics().activeConnections.fetch_add(1, std::memory_order_relaxed);
}

template <class Net, class Client>
Session<Net, Client>::Session(WorkerState<Net>& worker, ClientStream client, std::string_view clientIp,
                              std::int64_t idleDeadline)
    : Session(worker, std::move(client), clientIp) {
  fresh_ = false;  // run() then reads the next request at once: the client is readable
  deadline_.setAt(idleDeadline);
  deadline_.waitOnClient();
}

template <class Net, class Client>
Session<Net, Client>::~Session() {
  releaseInput();
  worker_.detach(*this);
  worker_.metrics().activeConnections.fetch_sub(1, std::memory_order_relaxed);
}

template <class Net, class Client>
void Session<Net, Client>::expire() noexcept {
  if (h2_ != nullptr) {
    h2_->expireDue(coarseNanos());
    return;
  }
  deadline_.template expire<Client>(client_);
}

template <class Net, class Client>
void Session<Net, Client>::closeIfIdle() noexcept {
  if (h2_ != nullptr) {
    h2_->drain();
    return;
  }
  if (phase_ == Phase::Idle) expire();
}

template <class Net, class Client>
std::int64_t Session<Net, Client>::http2Deadline() const noexcept {
  return h2_->deadline();
}

template <class Net, class Client>
bool Session<Net, Client>::mayBeHttp2() const noexcept {
  const auto mode = protocol_;
  if (mode == ListenerProtocol::Http1) return false;
  if (mode == ListenerProtocol::H2c) return true;
  // Decided here when the bytes already differ (a POST), so only a preface costs a coroutine.
  const std::string_view got(in_->data() + inBegin_, inEnd_ - inBegin_);
  const auto n = std::min(got.size(), detail::kHttp2Preface.size());
  return n != 0 && got.substr(0, n) == detail::kHttp2Preface.substr(0, n);
}

template <class Net, class Client>
Task<typename Session<Net, Client>::Protocol> Session<Net, Client>::sniffProtocol() {
  constexpr std::string_view kPreface = detail::kHttp2Preface;
  if (protocol_ == ListenerProtocol::H2c) co_return Protocol::Http2;  // nghttp2 checks the preface
  // Bounded: every read adds at least one byte, and the preface is 24.
  for (std::size_t reads = 0; reads <= kPreface.size(); ++reads) {
    const std::string_view got(in_->data() + inBegin_, inEnd_ - inBegin_);
    const auto n = std::min(got.size(), kPreface.size());
    if (got.substr(0, n) != kPreface.substr(0, n)) co_return Protocol::Http1;
    if (n == kPreface.size()) co_return Protocol::Http2;
    error_code ec;
    deadline_.waitOnClient();
    const auto more =
        co_await client_.async_read_some(asio::buffer(in_->data() + inEnd_, in_->capacity() - inEnd_), noThrow(ec));
    deadline_.check(ec);
    if (ec) co_return Protocol::Closed;
    inEnd_ += static_cast<std::uint32_t>(more);
  }
  co_return Protocol::Http1;
}

template <class Net, class Client>
Task<void> Session<Net, Client>::serveHttp2() {
  deadline_.clear();  // the HTTP/2 connection keeps its own deadlines
  Http2Connection<Net, Client> connection(*this);
  h2_ = &connection;
  co_await connection.run();
  h2_ = nullptr;
}

template <class Net, class Client>
void Session<Net, Client>::releaseInput() noexcept {
  if (in_) worker_.buffers().release(std::move(in_));
  inBegin_ = inEnd_ = 0;
}

inline void logSessionFailure(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("connection ended by an unexpected error: {}", e.what());
  }
}

template <class Net, class Client>
void Session<Net, Client>::spawn(std::unique_ptr<Session> session) {
  auto& ioc = session->worker_.ioc();
  asio::co_spawn(ioc, serve(std::move(session)), logSessionFailure);
}

template <class Net, class Client>
Task<void> Session<Net, Client>::serve(std::unique_ptr<Session> session) {
  const bool parkIt = co_await session->run();
  if (parkIt) park(std::move(session));
  co_return;
}

template <class Net, class Client>
void Session<Net, Client>::park(std::unique_ptr<Session> session) {
  if constexpr (Client::kCanWaitReadable) {
    // Synchronous with the end of run(): peek, then wait, so no readiness edge
    // is missed. A TLS peek also sees what OpenSSL holds, which no socket wait would.
    const auto peek = Client::peek(session->client_);
    if (peek == Client::Peek::Ready) {
      spawn(std::move(session));
      return;
    }
    if (peek == Client::Peek::Closed) return;  // the client went away; the session closes
    if (session->worker_.draining()) return;  // the drain has closed the parked ones; this one closes too
    if constexpr (!Client::kTls) {
      // A fresh connection has not said which protocol it speaks: a record would
      // resume it as HTTP/1.1 (fresh_ false), and an HTTP/2 preface would get a 400.
      if (ParkedConnections* parking = session->worker_.parking(); parking != nullptr && !session->fresh_) {
        session->parkAsRecord(*parking);
        return;
      }
    }
    Session& self = *session;
    self.deadline_.waitOnClient();
    self.parked_ = true;
    Client::socket(self.client_).async_wait(TcpSocket::wait_read, [session = std::move(session)](error_code ec) mutable {
      session->parked_ = false;
      if (ec || session->deadline_.expired()) {  // idle timeout or drain
        if constexpr (Client::kTls) {
          auto& ioc = session->worker_.ioc();
          asio::co_spawn(ioc, closeParked(std::move(session)), logSessionFailure);
        }
        return;
      }
      spawn(std::move(session));
    });
  }
}

template <class Net, class Client>
Task<void> Session<Net, Client>::closeParked(std::unique_ptr<Session> session)
  requires Client::kTls
{
  session->phase_ = Phase::Closed;
  co_await session->closeNotify(detail::kCloseNotifyGrace);
  session->deadline_.clear();
  Client::close(session->client_);
}

template <class Net, class Client>
void Session<Net, Client>::parkAsRecord(ParkedConnections& parking) noexcept
  requires(!Client::kTls)
{
  if constexpr (Client::kCanWaitReadable) {
    const auto address = ClientAddress::parse(clientIp());
    const int fd = Client::release(client_);
    if (fd < 0) return;  // still the session's: closed with it
    // A failed registration closes the connection; the client reconnects.
    (void)parking.park(fd, address, deadline_.at());
  }
}

template <class Net, class Client>
void Session<Net, Client>::parkIfIdleSince(std::uint64_t beforeTick) noexcept {
  if (phase_ == Phase::Idle && !parked_ && !parkRequested_ && idleTick_ < beforeTick && Client::kCanWaitReadable) {
    parkRequested_ = true;
    Client::abort(client_);
  }
}

template <class Net, class Client>
Task<bool> Session<Net, Client>::run() {
  const auto& timeouts = worker_.config().timeouts;
  // Resumed after parking: the client is readable, and serveOne reads.
  bool resumed = !fresh_ && phase_ == Phase::Idle;
  if constexpr (Client::kTls) {
    if (fresh_ && phase_ == Phase::Idle) {
      phase_ = Phase::Active;  // not parked, nor closed by a drain, mid-handshake
      const bool secured = co_await handshake();
      if (!secured) {
        phase_ = Phase::Closed;
        deadline_.clear();
        Client::close(client_);
        co_return false;
      }
      phase_ = Phase::Idle;
    }
  }
  for (;;) {
    if (inBegin_ == inEnd_ && !resumed) {
      if (!fresh_ && worker_.draining()) break;
      phase_ = Phase::Idle;
      idleTick_ = worker_.tickCount();
      deadline_.set(fresh_ ? timeouts.requestHead : timeouts.idle);
      if constexpr (Client::kCanWaitReadable) {
        // Hot idle: keep the buffer and read speculatively; the data is often
        // there already, more so after a yield. The watchdog parks the
        // session, freeing the buffer, once it has idled through a tick.
        if (!in_) in_ = worker_.buffers().acquire();
        inBegin_ = inEnd_ = 0;
        error_code ec;
        deadline_.waitOnClient();
        if (!fresh_ && worker_.anyInFlight()) co_await asio::post(worker_.ioc(), kUseTask);  // see anyInFlight()
        std::size_t n = 0;
        if (interruptedWhileYielding()) {
          ec = asio::error::operation_aborted;
        } else {
          n = co_await client_.async_read_some(asio::buffer(in_->data(), in_->capacity()), noThrow(ec));
        }
        if (parkRequested_ && !deadline_.expired() && n == 0) {
          parkRequested_ = false;
          releaseInput();
          co_return true;  // phase_ stays Idle; the deadline stays armed
        }
        parkRequested_ = false;
        deadline_.check(ec);
        if (ec) break;
        inEnd_ = static_cast<std::uint32_t>(n);
        if (fresh_ && mayBeHttp2()) {
          phase_ = Phase::Active;
          const Protocol protocol = co_await sniffProtocol();
          if (protocol == Protocol::Closed) break;
          if (protocol == Protocol::Http2) {
            co_await serveHttp2();
            break;
          }
        }
      }
    }
    resumed = false;
    fresh_ = false;
    phase_ = Phase::Active;
    // A park request is moot once there is a request to serve. One can be left
    // over when the watchdog asked a parked session that had just woken (still
    // Idle, nothing pending to abort); kept, it would abort the request's reads.
    parkRequested_ = false;
    if (!in_) {
      in_ = worker_.buffers().acquire();
      inBegin_ = inEnd_ = 0;
    }
    Http1Request<Net, Client> request(*this);
    Exchange<Net> exchange(worker_, request);
    // Not `if (co_await ...)`: GCC 12 miscompiles a co_await inside a condition.
    const bool keepGoing = co_await exchange.run();
    if (!keepGoing) break;
  }
  phase_ = Phase::Closed;
  if constexpr (Client::kTls) {
    // close_notify is TLS's end of stream; after an error reply the client
    // gets the linger time to read it and answer.
    co_await closeNotify(linger_ ? detail::kLingerTime : detail::kCloseNotifyGrace);
  } else if (linger_) {
    co_await lingerClose();
  }
  deadline_.clear();
  Client::close(client_);
  releaseInput();
  co_return false;
}

template <class Net, class Client>
Task<bool> Session<Net, Client>::handshake()
  requires Client::kTls
{
  // A client that never finishes its handshake holds only this session, and only for the head timeout.
  deadline_.set(worker_.config().timeouts.requestHead);
  deadline_.waitOnClient();
  error_code ec;
  co_await client_.async_handshake(asio::ssl::stream_base::server, noThrow(ec));
  deadline_.check(ec);
  auto& metrics = worker_.metrics();
  if (ec) {
    metrics.countTlsHandshake(TlsHandshake::Failed);
    co_return false;
  }
  metrics.countTlsHandshake(Client::resumed(client_) ? TlsHandshake::Resumed : TlsHandshake::Full);
  // Without ALPN the listener's own detection decides (the h2 preface, or HTTP/1.1).
  if (const auto chosen = Client::negotiatedProtocol(client_)) protocol_ = *chosen;
  co_return true;
}

template <class Net, class Client>
Task<void> Session<Net, Client>::closeNotify(std::chrono::milliseconds grace)
  requires Client::kTls
{
  // The watchdog's deadline bounds the wait for the client's close_notify.
  deadline_.set(grace);
  deadline_.waitOnClient();
  error_code ignored;
  co_await client_.async_shutdown(noThrow(ignored));
}

template <class Net, class Client>
Task<void> Session<Net, Client>::lingerClose()
  requires(!Client::kTls)
{
  // After an error reply, closing with unread input would make the kernel
  // reset the connection and could destroy the reply before the client reads
  // it. Stop sending, then discard what still arrives, briefly.
  Client::shutdownSend(client_);
  if (!in_) in_ = worker_.buffers().acquire();
  deadline_.set(detail::kLingerTime);
  std::size_t total = 0;
  error_code ec;
  while (total < detail::kLingerBytes) {
    deadline_.waitOnClient();
    const auto n = co_await client_.async_read_some(asio::buffer(in_->data(), in_->capacity()), noThrow(ec));
    deadline_.check(ec);
    if (ec) break;
    total += n;
  }
}

template <class Net, class Client>
Task<void> Session<Net, Client>::tunnel(Stream& upstream) {
  // Member to client in a second coroutine, client to member in this one;
  // the timer only wakes this one when the other finishes last.
  deadline_.waitOnBoth();
  tunnelBroken_ = false;
  auto& active = worker_.metrics().activeTunnels;
  active.fetch_add(1, std::memory_order_relaxed);
  const struct Counted {
    std::atomic<std::int64_t>& gauge;
    ~Counted() { gauge.fetch_sub(1, std::memory_order_relaxed); }
  } counted{active};
  deadline_.set(worker_.config().timeouts.tunnel);
  bool otherDone = false;
  SteadyTimer otherFinished(worker_.ioc(), SteadyTimer::time_point::max());
  asio::co_spawn(worker_.ioc(), pump<Net, Client>(upstream, client_, nullptr, 0, 0), [&](std::exception_ptr error) {
    logSessionFailure(error);
    otherDone = true;
    otherFinished.cancel();
  });
  // Bytes the client sent after its request already belong to the new protocol.
  const auto begin = std::exchange(inBegin_, 0);
  const auto end = std::exchange(inEnd_, 0);
  co_await pump<Client, Net>(client_, upstream, std::move(in_), begin, end);
  if (!otherDone) {
    error_code ignored;
    co_await otherFinished.async_wait(noThrow(ignored));
  }
}

template <class Net, class Client>
template <class From, class To>
Task<void> Session<Net, Client>::pump(typename From::Stream& from, typename To::Stream& to,
                                      std::unique_ptr<IoBuffer> first, std::uint32_t begin, std::uint32_t end) {
  const auto timeout = worker_.config().timeouts.tunnel;
  BufferLease buffer{worker_.buffers(), std::move(first)};
  error_code ec;
  while (!tunnelBroken_) {
    if (begin != end) {
      co_await asio::async_write(to, asio::buffer(buffer.buffer->data() + begin, end - begin), noThrow(ec));
      deadline_.check(ec);
      if (ec || tunnelBroken_) break;
      deadline_.set(timeout);
    }
    if constexpr (From::kCanWaitReadable) {
      // An idle tunnel holds no buffer (a WebSocket is idle most of its life):
      // wait for bytes, then borrow one. Bytes OpenSSL already holds need no wait.
      if (!From::hasBuffered(from)) {
        worker_.buffers().release(std::move(buffer.buffer));
        co_await From::socket(from).async_wait(TcpSocket::wait_read, noThrow(ec));
        deadline_.check(ec);
        if (ec || tunnelBroken_) break;
      }
    }
    if (!buffer.buffer) buffer.buffer = worker_.buffers().acquire();
    const auto n =
        co_await from.async_read_some(asio::buffer(buffer.buffer->data(), buffer.buffer->capacity()), noThrow(ec));
    deadline_.check(ec);
    if constexpr (!To::kTls) {
      if (ec == asio::error::eof && !tunnelBroken_) {
        To::shutdownSend(to);  // pass the half-close on; the other direction goes on
        co_return;
      }
    }
    // Towards a TLS client a member's close ends the tunnel: the session then
    // sends close_notify (TLS 1.2 has no half-close).
    if (ec) break;
    deadline_.set(timeout);
    begin = 0;
    end = static_cast<std::uint32_t>(n);
  }
  if (!tunnelBroken_) {
    tunnelBroken_ = true;
    From::abort(from);
    To::abort(to);
  }
}

template <class Net, class Client>
Task<bool> Session<Net, Client>::writeLocal(HttpError error, bool keepAlive, bool bodiless, MemberStats* stats) {
  std::array<char, 384> head{};
  const auto phrase = reasonPhrase(error.status);
  const int length = std::snprintf(head.data(), head.size(),
                                   "HTTP/1.1 %u %.*s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                                   "Cache-Control: no-store\r\nConnection: %s\r\n\r\n",
                                   static_cast<unsigned>(error.status), static_cast<int>(phrase.size()), phrase.data(),
                                   error.reason.size() + 1, keepAlive ? "keep-alive" : "close");
  static constexpr char kNewline = '\n';
  // An answer to HEAD keeps the Content-Length a GET would get, but no body:
  // a keep-alive client would read one as the next response.
  const std::array<asio::const_buffer, 3> buffers{
      asio::buffer(head.data(), static_cast<std::size_t>(length)),
      asio::buffer(error.reason.data(), bodiless ? 0 : error.reason.size()), asio::buffer(&kNewline, bodiless ? 0 : 1)};
  const auto start = requestStart_ != 0 ? requestStart_ : monotonicNanos();
  (stats != nullptr ? *stats : worker_.localStats()).countResponse(error.status, monotonicNanos() - start);
  if (worker_.config().log.access) {
    logAccess(AccessRecord{clientIp(), "-", "-", error.status, stats != nullptr ? std::string_view(stats->id) : "none",
                           monotonicNanos() - start, error.reason});
  }
  if (!keepAlive) linger_ = true;
  deadline_.set(worker_.config().timeouts.idle);
  error_code ec;
  deadline_.waitOnClient();
  co_await asio::async_write(client_, buffers, noThrow(ec));
  deadline_.check(ec);
  co_return !ec;
}

}  // namespace ringlb::proxy

#include "http2_impl.h"
