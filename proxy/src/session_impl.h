#pragma once

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "access_log.h"
#include "head_rewriter.h"
#include "key_extractor.h"
#include "member_picker.h"
#include "session.h"
#include "worker_state.h"
#include "ringlb/ring/hash.h"

namespace ringlb::proxy {

namespace detail {

inline constexpr std::string_view kViaName = "ringlb";
inline constexpr std::chrono::milliseconds kLingerTime{1000};
inline constexpr std::size_t kLingerBytes = 1 << 20;

/// Returns a pooled buffer when the request (or its coroutine frame) ends.
struct BufferLease {
  BufferPool& pool;
  std::unique_ptr<IoBuffer> buffer;
  ~BufferLease() { pool.release(std::move(buffer)); }
};

/// Counts one request in flight to a group for as long as it is attached.
template <class Net>
struct InFlightGuard {
  WorkerState<Net>& worker;
  UpstreamGroup<Net>* group = nullptr;

  void attach(UpstreamGroup<Net>& next) {
    release();
    group = &next;
    worker.beginRequest(next);
  }
  void release() noexcept {
    if (group != nullptr) worker.endRequest(*group);
    group = nullptr;
  }
  ~InFlightGuard() { release(); }
};

inline std::size_t errorIndex(UpstreamError e) { return static_cast<std::size_t>(e); }

using Buffers3 = std::array<asio::const_buffer, 3>;

inline std::size_t totalSize(const Buffers3& buffers) noexcept {
  return buffers[0].size() + buffers[1].size() + buffers[2].size();
}

// The buffers after their first `n` bytes.
inline Buffers3 advance(Buffers3 buffers, std::size_t n) noexcept {
  for (auto& buffer : buffers) {
    const auto step = std::min(n, buffer.size());
    buffer += step;
    n -= step;
  }
  return buffers;
}

// One non-blocking send of as much as the socket takes now: the common case
// sends a whole head (and small body) without a trip through the scheduler.
template <class Stream>
std::size_t sendNow(Stream& stream, const Buffers3& buffers, error_code& ec) {
  const auto n = stream.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    return 0;
  }
  return n;
}

}  // namespace detail

template <class Net>
Session<Net>::Session(WorkerState<Net>& worker, Stream client, std::string_view clientIp)
    : worker_(worker), client_(std::move(client)) {
  const auto n = std::min(clientIp.size(), clientIp_.size());
  std::memcpy(clientIp_.data(), clientIp.data(), n);
  clientIpLength_ = static_cast<std::uint8_t>(n);
  Net::setNonBlocking(client_);
  worker_.attach(*this);
  worker_.metrics().activeConnections.fetch_add(1, std::memory_order_relaxed);
}

template <class Net>
Session<Net>::~Session() {
  releaseInput();
  worker_.detach(*this);
  worker_.metrics().activeConnections.fetch_sub(1, std::memory_order_relaxed);
}

template <class Net>
void Session<Net>::setDeadline(std::chrono::milliseconds timeout) noexcept {
  deadline_ = coarseNanos() + std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  expired_ = false;
}

template <class Net>
void Session<Net>::checkExpired(error_code& ec) const noexcept {
  // Also after a success: the deadline passed while the completion was queued.
  if (expired_) ec = asio::error::timed_out;
}

template <class Net>
void Session<Net>::expire() noexcept {
  deadline_ = 0;
  expired_ = true;
  // Abort only the stream with the pending operation (both in a tunnel); the other one may still carry a reply.
  if (waiting_ != Waiting::Upstream) Net::abort(client_);
  if (waiting_ != Waiting::Client && upstream_ != nullptr) Net::abort(*upstream_);
}

template <class Net>
void Session<Net>::closeIfIdle() noexcept {
  if (phase_ == Phase::Idle) expire();
}

template <class Net>
void Session<Net>::releaseInput() noexcept {
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

template <class Net>
void Session<Net>::spawn(std::unique_ptr<Session> session) {
  auto& ioc = session->worker_.ioc();
  asio::co_spawn(ioc, serve(std::move(session)), logSessionFailure);
}

template <class Net>
Task<void> Session<Net>::serve(std::unique_ptr<Session> session) {
  const bool parkIt = co_await session->run();
  if (parkIt) park(std::move(session));
  co_return;
}

template <class Net>
void Session<Net>::park(std::unique_ptr<Session> session) {
  if constexpr (Net::kCanWaitReadable) {
    // Synchronous with the end of run(): peek, then wait, so no readiness edge is missed.
    const auto peek = Net::peek(session->client_);
    if (peek == Net::Peek::Ready) {
      spawn(std::move(session));
      return;
    }
    if (peek == Net::Peek::Closed) return;  // the client went away; the session closes
    Session& self = *session;
    self.waiting_ = Waiting::Client;
    self.parked_ = true;
    self.client_.async_wait(Stream::wait_read, [session = std::move(session)](error_code ec) mutable {
      session->parked_ = false;
      if (ec || session->expired_) return;  // idle timeout or drain
      spawn(std::move(session));
    });
  }
}

template <class Net>
void Session<Net>::parkIfIdleSince(std::uint64_t beforeTick) noexcept {
  if (phase_ == Phase::Idle && !parked_ && !parkRequested_ && idleTick_ < beforeTick && Net::kCanWaitReadable) {
    parkRequested_ = true;
    Net::abort(client_);
  }
}

template <class Net>
Task<bool> Session<Net>::run() {
  const auto& timeouts = worker_.config().timeouts;
  // Resumed after parking: the client is readable, and serveOne reads.
  bool resumed = !fresh_ && phase_ == Phase::Idle;
  for (;;) {
    if (inBegin_ == inEnd_ && !resumed) {
      if (!fresh_ && worker_.draining()) break;
      phase_ = Phase::Idle;
      idleTick_ = worker_.tickCount();
      setDeadline(fresh_ ? timeouts.requestHead : timeouts.idle);
      if constexpr (Net::kCanWaitReadable) {
        // Hot idle: keep the buffer and read speculatively; the data is often
        // there already, more so after a yield. The watchdog parks the
        // session, freeing the buffer, once it has idled through a tick.
        if (!in_) in_ = worker_.buffers().acquire();
        inBegin_ = inEnd_ = 0;
        error_code ec;
        waiting_ = Waiting::Client;
        if (!fresh_ && worker_.anyInFlight()) co_await asio::post(worker_.ioc(), kUseTask);  // see anyInFlight()
        std::size_t n = 0;
        if (interruptedWhileYielding()) {
          ec = asio::error::operation_aborted;
        } else {
          n = co_await client_.async_read_some(asio::buffer(in_->data(), in_->capacity()), noThrow(ec));
        }
        if (parkRequested_ && !expired_ && n == 0) {
          parkRequested_ = false;
          releaseInput();
          co_return true;  // phase_ stays Idle; the deadline stays armed
        }
        parkRequested_ = false;
        checkExpired(ec);
        if (ec) break;
        inEnd_ = static_cast<std::uint32_t>(n);
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
    // Not `if (co_await ...)`: GCC 12 miscompiles a co_await inside a condition.
    const bool keepGoing = co_await serveOne();
    if (!keepGoing) break;
  }
  phase_ = Phase::Closed;
  if (linger_) {
    co_await lingerClose();
  }
  clearDeadline();
  Net::close(client_);
  releaseInput();
  co_return false;
}

template <class Net>
Task<void> Session<Net>::lingerClose() {
  // After an error reply, closing with unread input would make the kernel
  // reset the connection and could destroy the reply before the client reads
  // it. Stop sending, then discard what still arrives, briefly.
  Net::shutdownSend(client_);
  if (!in_) in_ = worker_.buffers().acquire();
  setDeadline(detail::kLingerTime);
  std::size_t total = 0;
  error_code ec;
  while (total < detail::kLingerBytes) {
    waiting_ = Waiting::Client;
    const auto n = co_await client_.async_read_some(asio::buffer(in_->data(), in_->capacity()), noThrow(ec));
    checkExpired(ec);
    if (ec) break;
    total += n;
  }
}

template <class Net>
Task<void> Session<Net>::tunnel(Stream& upstream) {
  // Member to client in a second coroutine, client to member in this one;
  // the timer only wakes this one when the other finishes last.
  waiting_ = Waiting::Tunnel;
  tunnelBroken_ = false;
  auto& active = worker_.metrics().activeTunnels;
  active.fetch_add(1, std::memory_order_relaxed);
  const struct Counted {
    std::atomic<std::int64_t>& gauge;
    ~Counted() { gauge.fetch_sub(1, std::memory_order_relaxed); }
  } counted{active};
  setDeadline(worker_.config().timeouts.tunnel);
  bool otherDone = false;
  SteadyTimer otherFinished(worker_.ioc(), SteadyTimer::time_point::max());
  asio::co_spawn(worker_.ioc(), pump(upstream, client_, nullptr, 0, 0), [&](std::exception_ptr error) {
    logSessionFailure(error);
    otherDone = true;
    otherFinished.cancel();
  });
  // Bytes the client sent after its request already belong to the new protocol.
  const auto begin = std::exchange(inBegin_, 0);
  const auto end = std::exchange(inEnd_, 0);
  co_await pump(client_, upstream, std::move(in_), begin, end);
  if (!otherDone) {
    error_code ignored;
    co_await otherFinished.async_wait(noThrow(ignored));
  }
}

template <class Net>
Task<void> Session<Net>::pump(Stream& from, Stream& to, std::unique_ptr<IoBuffer> first, std::uint32_t begin,
                              std::uint32_t end) {
  const auto timeout = worker_.config().timeouts.tunnel;
  detail::BufferLease buffer{worker_.buffers(), std::move(first)};
  error_code ec;
  while (!tunnelBroken_) {
    if (begin != end) {
      co_await asio::async_write(to, asio::buffer(buffer.buffer->data() + begin, end - begin), noThrow(ec));
      checkExpired(ec);
      if (ec || tunnelBroken_) break;
      setDeadline(timeout);
    }
    if constexpr (Net::kCanWaitReadable) {
      // An idle tunnel holds no buffer (a WebSocket is idle most of its life):
      // wait for bytes, then borrow one.
      worker_.buffers().release(std::move(buffer.buffer));
      co_await from.async_wait(Stream::wait_read, noThrow(ec));
      checkExpired(ec);
      if (ec || tunnelBroken_) break;
    }
    if (!buffer.buffer) buffer.buffer = worker_.buffers().acquire();
    const auto n =
        co_await from.async_read_some(asio::buffer(buffer.buffer->data(), buffer.buffer->capacity()), noThrow(ec));
    checkExpired(ec);
    if (ec == asio::error::eof && !tunnelBroken_) {
      Net::shutdownSend(to);  // pass the half-close on; the other direction goes on
      co_return;
    }
    if (ec) break;
    setDeadline(timeout);
    begin = 0;
    end = static_cast<std::uint32_t>(n);
  }
  if (!tunnelBroken_) {
    tunnelBroken_ = true;
    Net::abort(from);
    Net::abort(to);
  }
}

template <class Net>
Task<bool> Session<Net>::writeLocal(HttpError error, bool keepAlive, std::uint8_t /*versionMinor*/, MemberStats* stats) {
  std::array<char, 384> head{};
  const auto phrase = reasonPhrase(error.status);
  const int length = std::snprintf(head.data(), head.size(),
                                   "HTTP/1.1 %u %.*s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                                   "Cache-Control: no-store\r\nConnection: %s\r\n\r\n",
                                   static_cast<unsigned>(error.status), static_cast<int>(phrase.size()), phrase.data(),
                                   error.reason.size() + 1, keepAlive ? "keep-alive" : "close");
  static constexpr char kNewline = '\n';
  const std::array<asio::const_buffer, 3> buffers{asio::buffer(head.data(), static_cast<std::size_t>(length)),
                                                  asio::buffer(error.reason.data(), error.reason.size()),
                                                  asio::buffer(&kNewline, 1)};
  const auto start = requestStart_ != 0 ? requestStart_ : monotonicNanos();
  (stats != nullptr ? *stats : worker_.localStats()).countResponse(error.status, monotonicNanos() - start);
  if (worker_.config().log.access) {
    logAccess(AccessRecord{clientIp(), "-", "-", error.status, stats != nullptr ? std::string_view(stats->id) : "none",
                           monotonicNanos() - start, error.reason});
  }
  if (!keepAlive) linger_ = true;
  setDeadline(worker_.config().timeouts.idle);
  error_code ec;
  waiting_ = Waiting::Client;
  co_await asio::async_write(client_, buffers, noThrow(ec));
  checkExpired(ec);
  co_return !ec;
}

template <class Net>
Task<bool> Session<Net>::serveOne() {
  using detail::errorIndex;
  const ProxyConfig& config = worker_.config();
  const HeadLimits& limits = worker_.limits();
  IoBuffer& in = *in_;
  char* const data = in.data();
  const auto capacity = static_cast<std::uint32_t>(in.capacity());
  error_code ec;
  requestStart_ = 0;

  // ---- the request head
  setDeadline(config.timeouts.requestHead);
  HeadScanner scanner;
  for (;;) {
    const auto status = scanner.scan({data + inBegin_, inEnd_ - inBegin_}, limits.maxBytes);
    if (status == HeadScanner::Status::Complete) break;
    if (status == HeadScanner::Status::Error) {
      co_await writeLocal(scanner.error(), false, 1);
      co_return false;
    }
    if (inEnd_ == capacity) {
      // Only with pipelined bytes ahead (the scanner stops at maxBytes < capacity);
      // the scanner's offsets are relative to inBegin_, so moving is safe.
      std::memmove(data, data + inBegin_, inEnd_ - inBegin_);
      inEnd_ -= inBegin_;
      inBegin_ = 0;
    }
    waiting_ = Waiting::Client;
    const auto n = co_await client_.async_read_some(asio::buffer(data + inEnd_, capacity - inEnd_), noThrow(ec));
    checkExpired(ec);
    if (ec) {
      if (ec == asio::error::timed_out) co_await writeLocal({408, "request head not received in time"}, false, 1);
      co_return false;
    }
    inEnd_ += static_cast<std::uint32_t>(n);
  }
  const std::uint32_t headStart = inBegin_ + static_cast<std::uint32_t>(scanner.skipped());
  const auto headLength = static_cast<std::uint32_t>(scanner.length());
  char* const head = data + headStart;
  RequestHead request;
  if (const auto error = parseRequestHead({head, headLength}, limits, {in.fields(), in.connectionTokens()}, request)) {
    co_await writeLocal(error, false, request.versionMinor);
    co_return false;
  }
  requestStart_ = monotonicNanos();
  const std::uint32_t bodyStart = headStart + headLength;
  const std::uint64_t maxBody = config.limits.maxBodyBytes;
  if (maxBody != 0 && request.framing == BodyFraming::Length && request.contentLength > maxBody) {
    co_await writeLocal({413, "request body exceeds the limit"}, false, request.versionMinor);
    co_return false;
  }

  // ---- the part of the body already buffered
  ChunkedDecoder chunked;
  std::uint32_t bodyEnd = bodyStart;
  std::uint64_t bodyRemaining = 0;
  bool bodyComplete = true;
  if (request.framing == BodyFraming::Length) {
    const auto take = std::min<std::uint64_t>(request.contentLength, inEnd_ - bodyStart);
    bodyEnd = bodyStart + static_cast<std::uint32_t>(take);
    bodyRemaining = request.contentLength - take;
    bodyComplete = bodyRemaining == 0;
  } else if (request.framing == BodyFraming::Chunked) {
    const auto step = chunked.feed({data + bodyStart, inEnd_ - bodyStart});
    if (step.status == ChunkedDecoder::Status::Error) {
      co_await writeLocal({400, chunked.error()}, false, request.versionMinor);
      co_return false;
    }
    if (maxBody != 0 && chunked.payloadBytes() > maxBody) {
      co_await writeLocal({413, "request body exceeds the limit"}, false, request.versionMinor);
      co_return false;
    }
    bodyEnd = bodyStart + static_cast<std::uint32_t>(step.consumed);
    bodyComplete = step.status == ChunkedDecoder::Status::Done;
  }
  // The request's bytes stay in the buffer for retries; what follows them is the next request.
  if (bodyComplete) inBegin_ = bodyEnd;
  const Method method = request.method;
  const std::uint8_t versionMinor = request.versionMinor;
  const bool upgradeRequested = request.upgrade >= 0;
  const bool clientKeepAlive = request.keepAlive && !worker_.draining();

  // ---- route
  const std::shared_ptr<const RoutingTable> table = worker_.table();  // pinned for this request
  HttpError unavailable;
  if (!table) {
    unavailable = {503, "no ring loaded"};
  } else if (table->ring->empty()) {
    unavailable = {503, "the ring has no members"};
  } else if (table->ring->readyCount() == 0) {
    unavailable = {503, "no member of the ring is Ready"};
  }
  if (unavailable) {
    const bool keep = clientKeepAlive && bodyComplete;
    const bool written = co_await writeLocal(unavailable, keep, versionMinor);
    co_return keep && written;
  }
  const RequestKey key = extractKey({head, headLength}, request, table->key, clientIp());
  const std::uint64_t hash = ring::hashKey(key.key);

  // ---- edit the head in place; the field index is invalid from here on
  const Rewrite rewrite = rewriteRequestHead({head, headLength}, request,
                                             {clientIp(), "http", detail::kViaName, worker_.random(), worker_.random()},
                                             in.aux());
  if (rewrite.length == 0) {
    co_await writeLocal({431, "request head too large to forward"}, false, versionMinor);
    co_return false;
  }
  if (request.expectContinue && !bodyComplete && bodyEnd == bodyStart && versionMinor == 1) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    setDeadline(config.timeouts.idle);
    waiting_ = Waiting::Client;
    co_await asio::async_write(client_, asio::buffer(kContinue.data(), kContinue.size()), noThrow(ec));
    checkExpired(ec);
    if (ec) co_return false;
  }

  // ---- attempts: the owner, then distinct successors
  const bool idempotent = isRetryable(method);
  TriedSet tried;
  HttpError failure{502, "no member could answer"};
  std::unique_ptr<UpstreamConnection<Net>> connection;
  UpstreamGroup<Net>* group = nullptr;
  MemberStats* stats = nullptr;
  detail::InFlightGuard<Net> inFlight{worker_};
  detail::BufferLease out{worker_.buffers(), nullptr};
  ResponseHead response;
  std::uint32_t responseStart = 0;
  std::uint32_t responseLength = 0;
  std::uint32_t outEnd = 0;
  bool replayable = true;  // the whole request is still in the buffer
  bool earlyResponse = false;  // the member stopped taking the body; its answer may have come first
  bool haveResponse = false;
  bool staleRetried = false;
  HttpError bodyError;
  unsigned attempts = 0;

  while (!haveResponse && attempts <= config.retries) {
    const auto pick = pickMember(*table, hash, tried, table->bounded ? &worker_.load() : nullptr, coarseNanos());
    if (!pick) break;
    tried.add(pick->index);
    ++attempts;
    group = &worker_.group(pick->index);
    stats = group->stats;
    inFlight.attach(*group);
    if (attempts > 1) stats->retries.add();
    if (pick->spilled) worker_.group(pick->spilledFrom).stats->spills.add();

    bool reused = true;
    connection = worker_.takeIdle(*group, !idempotent);
    if (!connection) {
      reused = false;
      connection = std::make_unique<UpstreamConnection<Net>>(worker_.ioc());
      connection->generation = group->generation;
      upstream_ = &connection->stream;
      setDeadline(config.timeouts.upstreamConnect);
      waiting_ = Waiting::Upstream;
      ec = co_await worker_.net().connect(connection->stream, *group);
      checkExpired(ec);
      if (ec) {
        upstream_ = nullptr;
        connection.reset();
        stats->upstreamErrors[errorIndex(UpstreamError::Connect)].add();
        group->health->recordFailure(coarseNanos(), worker_.ejection());
        failure = {502, ec == asio::error::timed_out ? "connecting to the member timed out" : "could not connect to the member"};
        continue;  // nothing was sent: any method may go to the next successor
      }
    }
    upstream_ = &connection->stream;

    // The head and whatever of the body is buffered, in one write.
    setDeadline(config.timeouts.idle);
    const detail::Buffers3 first{asio::buffer(head, rewrite.length), asio::buffer(in.aux().data(), rewrite.extraLength),
                                 asio::buffer(data + bodyStart, bodyEnd - bodyStart)};
    if (worker_.othersInFlight()) co_await worker_.awaitSendTurn(*group);
    const auto sent = detail::sendNow(connection->stream, first, ec);
    // The response cannot have arrived yet, so a recv now would only fail.
    bool responseDue = !ec && sent == detail::totalSize(first) && bodyComplete;
    if (!ec && sent != detail::totalSize(first)) {
      waiting_ = Waiting::Upstream;
      co_await asio::async_write(connection->stream, detail::advance(first, sent), noThrow(ec));
    }
    checkExpired(ec);
    if (ec) {
      upstream_ = nullptr;
      connection.reset();
      if (reused && !staleRetried && idempotent) {
        // A pooled connection the member had already closed: same member, new connection.
        staleRetried = true;
        tried.removeLast();
        --attempts;
        continue;
      }
      const bool timeout = ec == asio::error::timed_out;
      stats->upstreamErrors[errorIndex(timeout ? UpstreamError::Timeout : UpstreamError::Reset)].add();
      group->health->recordFailure(coarseNanos(), worker_.ejection());
      failure = timeout ? HttpError{504, "sending the request to the member timed out"}
                        : HttpError{502, "the member reset the connection"};
      if (idempotent && replayable) continue;
      break;
    }

    // The rest of the body streams through the input buffer; no replay after this.
    if (!bodyComplete) {
      replayable = false;
      inBegin_ = inEnd_ = 0;
      bool upstreamFailed = false;
      while (!bodyComplete) {
        setDeadline(config.timeouts.idle);
        waiting_ = Waiting::Client;
        const auto n = co_await client_.async_read_some(asio::buffer(data, capacity), noThrow(ec));
        checkExpired(ec);
        if (ec) break;
        std::uint32_t take = 0;
        if (request.framing == BodyFraming::Length) {
          take = static_cast<std::uint32_t>(std::min<std::uint64_t>(bodyRemaining, n));
          bodyRemaining -= take;
          bodyComplete = bodyRemaining == 0;
        } else {
          const auto step = chunked.feed({data, n});
          if (step.status == ChunkedDecoder::Status::Error) {
            bodyError = {400, chunked.error()};
            break;
          }
          if (maxBody != 0 && chunked.payloadBytes() > maxBody) {
            bodyError = {413, "request body exceeds the limit"};
            break;
          }
          take = static_cast<std::uint32_t>(step.consumed);
          bodyComplete = step.status == ChunkedDecoder::Status::Done;
        }
        inBegin_ = take;  // bytes after the body are the next request
        inEnd_ = static_cast<std::uint32_t>(n);
        waiting_ = Waiting::Upstream;
        co_await asio::async_write(connection->stream, asio::buffer(data, take), noThrow(ec));
        checkExpired(ec);
        if (ec) {
          upstreamFailed = true;
          break;
        }
      }
      // A member may answer before it has taken the whole body (a 413, a 401) and close: its
      // answer is still readable after the reset, so it is read as usual and relayed, and the
      // client connection closes after it.
      earlyResponse = upstreamFailed && ec != asio::error::timed_out;
      if (!bodyComplete && !earlyResponse) {
        upstream_ = nullptr;
        connection.reset();
        if (bodyError) {
          co_await writeLocal(bodyError, false, versionMinor);
        } else if (upstreamFailed) {
          stats->upstreamErrors[errorIndex(UpstreamError::Timeout)].add();
          group->health->recordFailure(coarseNanos(), worker_.ejection());
          co_await writeLocal({504, "sending the request body to the member timed out"}, false, versionMinor, stats);
        } else if (ec == asio::error::timed_out) {
          co_await writeLocal({408, "request body not received in time"}, false, versionMinor);
        }
        co_return false;
      }
    }

    // The response head; interim 1xx responses are dropped.
    if (!out.buffer) out.buffer = worker_.buffers().acquire();
    char* const odata = out.buffer->data();
    const auto ocapacity = static_cast<std::uint32_t>(out.buffer->capacity());
    outEnd = 0;
    HeadScanner responseScanner;
    bool gotBytes = false;
    HttpError protocolError;
    setDeadline(config.timeouts.upstreamResponse);
    for (;;) {
      const auto status = responseScanner.scan({odata, outEnd}, limits.maxBytes);
      if (status == HeadScanner::Status::Error) {
        protocolError = {502, responseScanner.error().status == 400 ? std::string_view("malformed response head from the member")
                                                                     : std::string_view("response head from the member too large")};
        break;
      }
      if (status == HeadScanner::Status::Complete) {
        const auto skipped = static_cast<std::uint32_t>(responseScanner.skipped());
        const auto length = static_cast<std::uint32_t>(responseScanner.length());
        if (const auto error = parseResponseHead({odata + skipped, length}, limits, method,
                                                 {out.buffer->fields(), out.buffer->connectionTokens()}, response)) {
          protocolError = error;
          break;
        }
        if (response.status == 101) {
          if (!upgradeRequested || response.upgrade < 0) {
            protocolError = {502, upgradeRequested ? "101 Switching Protocols without Upgrade from the member"
                                                   : "unexpected 101 Switching Protocols from the member"};
            break;
          }
          responseStart = skipped;
          responseLength = length;
          haveResponse = true;  // what follows the head belongs to the new protocol
          break;
        }
        if (response.status < 200) {
          std::memmove(odata, odata + skipped + length, outEnd - skipped - length);
          outEnd -= skipped + length;
          responseScanner.reset();
          continue;
        }
        responseStart = skipped;
        responseLength = length;
        // A body that fits the buffer is read whole before anything is
        // forwarded: a member dying between its head and its body is then a
        // failure before the first byte, and retried on a successor.
        const std::uint32_t bodyStartOffset = skipped + length;
        bool wantMore = false;
        ChunkedDecoder probe;
        if (response.framing == BodyFraming::Length) {
          wantMore = bodyStartOffset + response.contentLength <= ocapacity &&
                     outEnd < bodyStartOffset + response.contentLength;
        } else if (response.framing == BodyFraming::Chunked) {
          wantMore = probe.feed({odata + bodyStartOffset, outEnd - bodyStartOffset}).status ==
                         ChunkedDecoder::Status::Incomplete &&
                     outEnd < ocapacity;
        }
        while (wantMore) {
          const std::uint32_t before = outEnd;
          waiting_ = Waiting::Upstream;
          const auto more =
              co_await connection->stream.async_read_some(asio::buffer(odata + outEnd, ocapacity - outEnd), noThrow(ec));
          checkExpired(ec);
          if (ec) break;
          outEnd += static_cast<std::uint32_t>(more);
          if (response.framing == BodyFraming::Length) {
            wantMore = outEnd < bodyStartOffset + response.contentLength;
          } else {
            wantMore = probe.feed({odata + before, outEnd - before}).status == ChunkedDecoder::Status::Incomplete &&
                       outEnd < ocapacity;
          }
        }
        if (ec) break;
        haveResponse = true;
        break;
      }
      waiting_ = Waiting::Upstream;
      const auto readable = asio::buffer(odata + outEnd, ocapacity - outEnd);
      std::size_t n = 0;
      // Under load, yield first (see othersInFlight()): by the time the rest
      // of the pass and one more poll have run, the response has often come.
      if (responseDue && worker_.othersInFlight()) co_await asio::post(worker_.ioc(), kUseTask);
      responseDue = false;
      if (interruptedWhileYielding()) {
        ec = asio::error::operation_aborted;
      } else {
        n = co_await connection->stream.async_read_some(readable, noThrow(ec));
      }
      checkExpired(ec);
      if (ec) break;
      gotBytes = true;
      outEnd += static_cast<std::uint32_t>(n);
    }
    if (haveResponse) break;
    upstream_ = nullptr;
    connection.reset();
    if (protocolError) {
      stats->upstreamErrors[errorIndex(UpstreamError::Protocol)].add();
      group->health->recordFailure(coarseNanos(), worker_.ejection());
      failure = protocolError;
      break;  // a member that answers garbage is not retried
    }
    if (ec == asio::error::timed_out) {
      stats->upstreamErrors[errorIndex(UpstreamError::Timeout)].add();
      failure = {504, "the member did not respond in time"};
    } else {
      if (reused && !gotBytes && !staleRetried && idempotent && replayable) {
        staleRetried = true;
        tried.removeLast();
        --attempts;
        continue;
      }
      stats->upstreamErrors[errorIndex(UpstreamError::Reset)].add();
      failure = {502, earlyResponse ? std::string_view("the member failed while receiving the request body")
                                    : std::string_view("the member closed the connection without a response")};
    }
    group->health->recordFailure(coarseNanos(), worker_.ejection());
    if (idempotent && replayable) continue;
    break;
  }

  if (!haveResponse) {
    if (attempts == 0) failure = {503, "no Ready member could be picked"};
    const bool keep = clientKeepAlive && bodyComplete;
    const bool written = co_await writeLocal(failure, keep, versionMinor, attempts == 0 ? nullptr : stats);
    co_return keep && written;
  }

  // ---- relay the response
  if (response.status >= 500) {
    group->health->recordFailure(coarseNanos(), worker_.ejection());
  } else {
    group->health->recordSuccess(coarseNanos(), worker_.ejection());
  }
  char* const odata = out.buffer->data();
  const auto ocapacity = static_cast<std::uint32_t>(out.buffer->capacity());
  const bool closeClient =
      !clientKeepAlive || !bodyComplete || response.framing == BodyFraming::UntilClose || worker_.draining();
  if (!bodyComplete) linger_ = true;  // the client may still be sending the body the member refused
  char* const responseHead = odata + responseStart;
  const auto framing = response.framing;
  const bool upstreamKeepAlive = response.keepAlive;
  const unsigned status = response.status;
  const Rewrite responseRewrite =
      rewriteResponseHead({responseHead, responseLength}, response, versionMinor, closeClient, detail::kViaName, in.aux());
  const std::uint32_t responseBody = responseStart + responseLength;
  const std::uint32_t available = outEnd - responseBody;
  ChunkedDecoder responseChunks;
  std::uint64_t remaining = 0;
  bool done = false;
  bool extraBytes = false;
  std::uint32_t take = 0;
  HttpError framingError;
  switch (framing) {
    case BodyFraming::None:
      done = true;
      if (status == 101) {
        take = available;  // the member's first bytes in the new protocol
      } else {
        extraBytes = available > 0;
      }
      break;
    case BodyFraming::Length:
      take = static_cast<std::uint32_t>(std::min<std::uint64_t>(response.contentLength, available));
      remaining = response.contentLength - take;
      done = remaining == 0;
      extraBytes = take < available;
      break;
    case BodyFraming::Chunked: {
      const auto step = responseChunks.feed({odata + responseBody, available});
      if (step.status == ChunkedDecoder::Status::Error) framingError = {502, "invalid chunked body from the member"};
      take = static_cast<std::uint32_t>(step.consumed);
      done = step.status == ChunkedDecoder::Status::Done;
      extraBytes = done && take < available;
      break;
    }
    case BodyFraming::UntilClose:
      take = available;
      break;
  }
  if (extraBytes) framingError = {502, "the member sent bytes beyond the declared body"};
  if (responseRewrite.length == 0) framingError = {502, "response head from the member too large to forward"};
  if (framingError) {
    // Nothing was forwarded yet, so the client connection stays in sync.
    upstream_ = nullptr;
    connection.reset();
    stats->upstreamErrors[errorIndex(UpstreamError::Protocol)].add();
    group->health->recordFailure(coarseNanos(), worker_.ejection());
    const bool written = co_await writeLocal(framingError, clientKeepAlive, versionMinor, stats);
    co_return clientKeepAlive && written;
  }

  setDeadline(config.timeouts.idle);
  const detail::Buffers3 headAndBody{asio::buffer(responseHead, responseRewrite.length),
                                     asio::buffer(in.aux().data(), responseRewrite.extraLength),
                                     asio::buffer(odata + responseBody, take)};
  if (worker_.othersInFlight()) co_await asio::post(worker_.ioc(), kUseTask);
  const auto responseSent = detail::sendNow(client_, headAndBody, ec);
  if (!ec && responseSent != detail::totalSize(headAndBody)) {
    waiting_ = Waiting::Client;
    co_await asio::async_write(client_, detail::advance(headAndBody, responseSent), noThrow(ec));
  }
  checkExpired(ec);
  if (ec) co_return false;
  const auto account = [&] {
    const auto duration = monotonicNanos() - requestStart_;
    stats->countResponse(status, duration);
    if (config.log.access) {
      logAccess(AccessRecord{clientIp(), std::string_view(head, request.methodLength),
                             std::string_view(head + request.target, request.targetLength), status, stats->id, duration,
                             {}});
    }
  };
  if (status == 101) {
    account();  // the exchange ends with the switch; the tunnel is not a request
    worker_.buffers().release(std::move(out.buffer));
    co_await tunnel(connection->stream);
    upstream_ = nullptr;
    co_return false;
  }
  while (!done) {
    setDeadline(config.timeouts.idle);
    waiting_ = Waiting::Upstream;
    const auto n = co_await connection->stream.async_read_some(asio::buffer(odata, ocapacity), noThrow(ec));
    checkExpired(ec);
    if (ec) {
      if (framing == BodyFraming::UntilClose && ec == asio::error::eof) {
        done = true;
        break;
      }
      // Truncated: the client sees the connection close before the body ends.
      stats->upstreamErrors[errorIndex(ec == asio::error::timed_out ? UpstreamError::Timeout : UpstreamError::Reset)].add();
      co_return false;
    }
    if (framing == BodyFraming::Length) {
      take = static_cast<std::uint32_t>(std::min<std::uint64_t>(remaining, n));
      remaining -= take;
      done = remaining == 0;
      extraBytes = take < n;
    } else if (framing == BodyFraming::Chunked) {
      const auto step = responseChunks.feed({odata, n});
      if (step.status == ChunkedDecoder::Status::Error) {
        stats->upstreamErrors[errorIndex(UpstreamError::Protocol)].add();
        co_return false;
      }
      take = static_cast<std::uint32_t>(step.consumed);
      done = step.status == ChunkedDecoder::Status::Done;
      extraBytes = done && take < n;
    } else {
      take = static_cast<std::uint32_t>(n);
    }
    waiting_ = Waiting::Client;
    co_await asio::async_write(client_, asio::buffer(odata, take), noThrow(ec));
    checkExpired(ec);
    if (ec) co_return false;
  }

  upstream_ = nullptr;
  if (upstreamKeepAlive && !extraBytes && framing != BodyFraming::UntilClose && !earlyResponse) {
    worker_.putIdle(*group, std::move(connection));
  }
  connection.reset();
  account();
  co_return !closeClient;
}

}  // namespace ringlb::proxy
