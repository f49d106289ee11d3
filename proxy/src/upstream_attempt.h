#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "attempt_outcome.h"
#include "buffer_pool.h"
#include "chunked_decoder.h"
#include "downstream.h"
#include "head_parser.h"
#include "send_buffers.h"
#include "upstream.h"
#include "worker_state.h"

namespace ringlb::proxy {

/// The request as every attempt sends it.
struct ForwardedRequest {
  SendBuffers first;              // the rewritten head, its added fields and the buffered body
  Method method = Method::Other;
  bool idempotent = false;        // may be sent to another member after a failure
  bool upgradeRequested = false;  // may switch protocols (a 101 is then valid)
  bool replayable = true;         // still whole in memory: cleared once the body streams
};

/// What an attempt leaves for the relay: the connection, and the response's
/// head with as much of its body as the buffer took. Owned by the exchange.
template <class Net>
struct UpstreamResponse {
  std::unique_ptr<UpstreamConnection<Net>> connection;
  BufferLease buffer;
  ResponseHead head{};
  std::uint32_t headStart = 0;  // the head is buffer[headStart, headStart + headLength)
  std::uint32_t headLength = 0;
  std::uint32_t end = 0;        // bytes in the buffer
  std::uint32_t take = 0;       // body bytes in the buffer that belong to this response
  std::uint64_t remaining = 0;  // Content-Length bytes still to come
  ChunkedDecoder chunks{};      // a chunked body's framing, fed as it passes
  bool done = false;            // the whole body is in the buffer
  bool extraBytes = false;      // the member sent more than the body: the connection is not reused
  bool earlyResponse = false;   // the member stopped taking the body; its answer may have come first
  bool dechunk = false;         // a chunked body for an HTTP/1.0 client: relayed as its chunk data only

  std::uint32_t bodyStart() const noexcept { return headStart + headLength; }
};

/// How long a member may think about a request that expects 100-continue
/// before the client is told to send its body anyway (curl waits 1 s too).
inline constexpr std::chrono::milliseconds kContinueWait{1000};

/// What an attempt waits for next. The exchange does the waiting in its own
/// coroutine frame: a frame per attempt would cost more than the attempt's
/// logic (measured with bench/proxy-instructions).
enum class AttemptWait : std::uint8_t {
  Turn,      // the member's send turn (WorkerState::awaitSendTurn)
  Yield,     // one pass of the io_context: by then the response has often come
  Read,      // bytes from the member's stream() into readSpace()
  Interim,   // interim() to the client: a 1xx response it is to see, or the proxy's own 100
  Send,      // the coroutine sendSlowly(): a connect, a partial write or a streamed body
  Done,      // the attempt is over; result() says how
};

/// What a Read brought.
struct AttemptIo {
  error_code ec;
  std::size_t n = 0;
};

/// One try of a request at one member (Envoy's UpstreamRequest): a pooled or
/// new connection, the request out, the body streamed if it did not come
/// whole, and the response head in, with a body that fits the buffer. A step
/// machine: start() and resume() decide, and return what to wait for next,
/// which the exchange waits for. It ends with a classified outcome; what
/// follows from it (metrics, passive health, a retry) is the exchange's
/// decision. Single-threaded.
template <class Net>
class UpstreamAttempt {
 public:
  UpstreamAttempt(WorkerState<Net>& worker, Downstream<Net>& downstream, IncomingRequest& incoming,
                  ForwardedRequest& request, UpstreamGroup<Net>& group, UpstreamResponse<Net>& response) noexcept
      : worker_(worker), downstream_(downstream), deadline_(downstream.deadline()), incoming_(incoming),
        request_(request), group_(group), response_(response) {}

  /// Begins the attempt on a pooled connection if there is one. Returns the first wait.
  [[gnu::always_inline]] inline AttemptWait start();
  /// Continues after the wait that start() or resume() returned; `io` is what a Read brought.
  /// Returns the next wait.
  [[gnu::always_inline]] inline AttemptWait resume(const AttemptIo& io);
  /// For AttemptWait::Send: connects a new connection, or sends what the
  /// socket did not take at once and streams the rest of the body.
  Task<void> sendSlowly();
  /// For AttemptWait::Read: the member's connection and the free part of the response buffer.
  typename Net::Stream& stream() noexcept { return response_.connection->stream; }
  asio::mutable_buffer readSpace() noexcept {
    IoBuffer& buffer = *response_.buffer.buffer;
    return asio::buffer(buffer.data() + response_.end, buffer.capacity() - response_.end);
  }
  /// For AttemptWait::Interim: the member's interim response, as it came, or the proxy's own 100 Continue.
  asio::const_buffer interim() const noexcept {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    if (interim_ == Interim::OwnContinue) return asio::buffer(kContinue.data(), kContinue.size());
    return asio::buffer(response_.buffer.buffer->data() + interimStart_, interimLength_);
  }
  /// How the attempt ended, once it is Done. On ResponseStarted the response waits in `response`.
  const AttemptResult& result() const noexcept { return result_; }

 private:
  enum class Progress : std::uint8_t { NeedMore, Interim, Complete, Invalid };
  enum class Phase : std::uint8_t { Connecting, Turn, Sending, Yielding, Head, Interim, Body, Done };
  enum class Interim : std::uint8_t { Relayed, MembersContinue, OwnContinue };

  /// On a connection: arms the send's deadline and takes the send turn if others are in flight.
  AttemptWait beginSend();
  /// Sends the head and whatever of the body is buffered, in one write if the socket takes it.
  AttemptWait sendBuffered();
  /// After the request went out: waits for the response, or, while the client
  /// awaits a 100, for the member's 100 or early answer within kContinueWait.
  AttemptWait afterSend();
  AttemptWait awaitResponse(std::chrono::milliseconds timeout);
  AttemptWait readResponse();
  AttemptWait onHeadBytes(const AttemptIo& io);
  /// Goes on from what scanResponse() found in the buffer.
  AttemptWait onScanned();
  /// After the interim response went to the client (or failed to): drops it from the buffer.
  AttemptWait onInterimSent(const AttemptIo& io);
  /// A body that fits the buffer is read whole before anything is forwarded:
  /// a member dying between its head and its body is then a failure before
  /// the first byte, and retried on a successor.
  AttemptWait readBody();
  AttemptWait onBodyBytes(const AttemptIo& io);
  AttemptWait fail(AttemptOutcome outcome, HttpError error = {}) noexcept;
  /// Connects a new connection. Returns the failure, if any.
  Task<std::optional<AttemptOutcome>> connect();
  /// Streams the rest of the body. Returns the failure that ends the attempt, if any.
  Task<std::optional<AttemptOutcome>> upload();
  /// Scans the buffered response, up to a complete final (or 101) head or an
  /// interim response for the client; other interim responses are dropped.
  [[gnu::always_inline]] inline Progress scanResponse() noexcept;
  /// Whether a body that fits the buffer is still arriving; feeds bytes from `from` on.
  bool wantsMoreBody(std::uint32_t from) noexcept;
  /// Frames the body bytes already buffered. Returns the framing error, if any.
  [[gnu::always_inline]] inline HttpError frameBufferedBody() noexcept;
  AttemptOutcome readFailure(const error_code& ec) const noexcept;

  WorkerState<Net>& worker_;
  Downstream<Net>& downstream_;
  Deadline<Net>& deadline_;  // the downstream's
  IncomingRequest& incoming_;
  ForwardedRequest& request_;
  UpstreamGroup<Net>& group_;
  UpstreamResponse<Net>& response_;
  HeadScanner scanner_;
  ChunkedDecoder probe_;
  HttpError invalid_;
  AttemptResult result_;
  std::size_t sent_ = 0;       // bytes of request_.first sent
  std::uint32_t bodyFrom_ = 0;  // body bytes up to here were fed to probe_
  std::uint32_t interimStart_ = 0;  // the interim response for the client is
  std::uint32_t interimLength_ = 0;  // buffer[interimStart_, interimStart_ + interimLength_)
  Interim interim_ = Interim::Relayed;
  Phase phase_ = Phase::Connecting;
  bool reused_ = false;
  bool gotBytes_ = false;
  bool responseDue_ = false;  // the whole request just left: a read would find nothing yet
};

template <class Net>
AttemptWait UpstreamAttempt<Net>::start() {
  response_.end = 0;
  response_.connection = worker_.takeIdle(group_, !request_.idempotent);
  reused_ = response_.connection != nullptr;
  if (!reused_) return AttemptWait::Send;  // phase_ is Connecting
  return beginSend();
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::resume(const AttemptIo& io) {
  switch (phase_) {
    case Phase::Connecting:
      return beginSend();
    case Phase::Turn:
      return sendBuffered();
    case Phase::Sending:
      return afterSend();
    case Phase::Yielding:
      // Expired during the yield, with no read to abort.
      if (deadline_.expired()) return onHeadBytes({asio::error::operation_aborted, 0});
      phase_ = Phase::Head;
      return AttemptWait::Read;
    case Phase::Head:
      return onHeadBytes(io);
    case Phase::Interim:
      return onInterimSent(io);
    case Phase::Body:
      return onBodyBytes(io);
    case Phase::Done:
      break;
  }
  return AttemptWait::Done;
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::beginSend() {
  deadline_.watchUpstream(&response_.connection->stream);
  deadline_.set(worker_.config().timeouts.idle);
  phase_ = Phase::Turn;
  if (worker_.othersInFlight()) return AttemptWait::Turn;
  return sendBuffered();
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::sendBuffered() {
  error_code ec;
  sent_ = sendNow(stream(), request_.first, ec);
  deadline_.check(ec);
  if (ec) return fail(ec == asio::error::timed_out ? AttemptOutcome::SendTimedOut : AttemptOutcome::SendReset);
  phase_ = Phase::Sending;
  const bool bodyToStream = !incoming_.bodyComplete && !incoming_.awaitsContinue;
  if (sent_ != totalSize(request_.first) || bodyToStream) return AttemptWait::Send;
  responseDue_ = incoming_.bodyComplete;
  return afterSend();
}

template <class Net>
Task<void> UpstreamAttempt<Net>::sendSlowly() {
  if (phase_ == Phase::Connecting) {
    const auto failure = co_await connect();
    if (failure) fail(*failure);
    co_return;
  }
  if (sent_ != totalSize(request_.first)) {
    deadline_.waitOnUpstream();
    error_code ec;
    co_await asio::async_write(stream(), advance(request_.first, sent_), noThrow(ec));
    deadline_.check(ec);
    if (ec) {
      fail(ec == asio::error::timed_out ? AttemptOutcome::SendTimedOut : AttemptOutcome::SendReset);
      co_return;
    }
  }
  if (!incoming_.bodyComplete && !incoming_.awaitsContinue) {
    const auto failure = co_await upload();
    if (failure) fail(*failure, invalid_);
  }
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::afterSend() {
  if (incoming_.awaitsContinue) return awaitResponse(kContinueWait);
  return awaitResponse(worker_.config().timeouts.upstreamResponse);
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::awaitResponse(std::chrono::milliseconds timeout) {
  if (!response_.buffer.buffer) response_.buffer.buffer = worker_.buffers().acquire();
  deadline_.set(timeout);
  // Bytes that came after a 100 Continue are scanned before reading more.
  return response_.end > 0 ? onScanned() : readResponse();
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::readResponse() {
  deadline_.waitOnUpstream();
  // Under load, yield first (see othersInFlight()): by the time the rest
  // of the pass and one more poll have run, the response has often come.
  const bool yield = responseDue_ && worker_.othersInFlight();
  responseDue_ = false;
  phase_ = yield ? Phase::Yielding : Phase::Head;
  return yield ? AttemptWait::Yield : AttemptWait::Read;
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::onHeadBytes(const AttemptIo& io) {
  error_code ec = io.ec;
  deadline_.check(ec);
  if (ec == asio::error::timed_out && incoming_.awaitsContinue) {
    // The member said nothing within kContinueWait: the client sends its body anyway.
    deadline_.set(worker_.config().timeouts.idle);
    interim_ = Interim::OwnContinue;
    phase_ = Phase::Interim;
    return AttemptWait::Interim;
  }
  if (ec) return fail(readFailure(ec));
  gotBytes_ = true;
  response_.end += static_cast<std::uint32_t>(io.n);
  return onScanned();
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::onScanned() {
  switch (scanResponse()) {
    case Progress::NeedMore:
      return readResponse();
    case Progress::Interim:
      phase_ = Phase::Interim;
      return AttemptWait::Interim;
    case Progress::Invalid:
      return fail(AttemptOutcome::InvalidResponse, invalid_);
    case Progress::Complete:
      break;
  }
  // An answer before the body it expected (a 413, a 417): the body is never
  // sent, so the member connection is not reused and the client's closes.
  if (incoming_.awaitsContinue) response_.earlyResponse = true;
  // RFC 9112 §6.1: no chunked to an HTTP/1.0 client.
  response_.dechunk = response_.head.framing == BodyFraming::Chunked && incoming_.parsed.versionMinor == 0;
  bodyFrom_ = response_.bodyStart();
  return readBody();
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::onInterimSent(const AttemptIo& io) {
  if (io.ec) return fail(AttemptOutcome::DownstreamFailed);  // the client is gone: closed without an answer
  const Interim sent = std::exchange(interim_, Interim::Relayed);
  if (sent != Interim::OwnContinue) {
    char* const data = response_.buffer.buffer->data();
    const std::uint32_t used = interimStart_ + interimLength_;
    std::memmove(data, data + used, response_.end - used);
    response_.end -= used;
    interimStart_ = interimLength_ = 0;
    scanner_.reset();
  }
  if (sent == Interim::Relayed) return onScanned();
  // The client was told to continue: its body streams to the member, then the response is awaited.
  incoming_.awaitsContinue = false;
  phase_ = Phase::Sending;
  return AttemptWait::Send;
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::readBody() {
  if (wantsMoreBody(bodyFrom_)) {
    bodyFrom_ = response_.end;
    deadline_.waitOnUpstream();
    phase_ = Phase::Body;
    return AttemptWait::Read;
  }
  if (const HttpError invalid = frameBufferedBody()) return fail(AttemptOutcome::InvalidResponse, invalid);
  result_ = {AttemptOutcome::ResponseStarted, {}, response_.head.status, reused_};
  phase_ = Phase::Done;
  return AttemptWait::Done;
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::onBodyBytes(const AttemptIo& io) {
  error_code ec = io.ec;
  deadline_.check(ec);
  if (ec) return fail(readFailure(ec));
  response_.end += static_cast<std::uint32_t>(io.n);
  return readBody();
}

template <class Net>
AttemptWait UpstreamAttempt<Net>::fail(AttemptOutcome outcome, HttpError error) noexcept {
  result_ = {outcome, error, 0, reused_};
  phase_ = Phase::Done;
  return AttemptWait::Done;
}

template <class Net>
Task<std::optional<AttemptOutcome>> UpstreamAttempt<Net>::connect() {
  auto& connection = response_.connection;
  connection = std::make_unique<UpstreamConnection<Net>>(worker_.ioc());
  connection->generation = group_.generation;
  deadline_.watchUpstream(&connection->stream);
  deadline_.set(worker_.config().timeouts.upstreamConnect);
  deadline_.waitOnUpstream();
  error_code ec = co_await worker_.net().connect(connection->stream, group_);
  deadline_.check(ec);
  if (!ec) co_return std::nullopt;
  co_return ec == asio::error::timed_out ? AttemptOutcome::ConnectTimedOut : AttemptOutcome::ConnectFailed;
}

template <class Net>
Task<std::optional<AttemptOutcome>> UpstreamAttempt<Net>::upload() {
  // The rest of the body streams through the input buffer; no replay after this.
  request_.replayable = false;
  error_code ec;
  while (!incoming_.bodyComplete) {
    const BodyPiece piece = co_await downstream_.readBody();
    if (piece.failed) {
      invalid_ = piece.reply;
      co_return AttemptOutcome::DownstreamFailed;
    }
    deadline_.waitOnUpstream();
    co_await asio::async_write(response_.connection->stream, asio::buffer(piece.bytes.data(), piece.bytes.size()),
                               noThrow(ec));
    deadline_.check(ec);
    if (ec) break;
  }
  if (!ec) co_return std::nullopt;
  // A member may answer before it has taken the whole body (a 413, a 401) and close: its
  // answer is still readable after the reset, so it is read as usual and relayed, and the
  // client connection closes after it.
  if (ec != asio::error::timed_out) {
    response_.earlyResponse = true;
    co_return std::nullopt;
  }
  if (incoming_.bodyComplete) co_return std::nullopt;  // the last piece timed out: its answer may still come
  co_return AttemptOutcome::UploadTimedOut;
}

template <class Net>
typename UpstreamAttempt<Net>::Progress UpstreamAttempt<Net>::scanResponse() noexcept {
  IoBuffer& buffer = *response_.buffer.buffer;
  char* const data = buffer.data();
  const HeadLimits& limits = worker_.limits();
  for (;;) {
    const auto status = scanner_.scan({data, response_.end}, limits.maxBytes);
    if (status == HeadScanner::Status::NeedMore) return Progress::NeedMore;
    if (status == HeadScanner::Status::Error) {
      invalid_ = {502, scanner_.error().status == 400 ? std::string_view("malformed response head from the member")
                                                      : std::string_view("response head from the member too large")};
      return Progress::Invalid;
    }
    const auto skipped = static_cast<std::uint32_t>(scanner_.skipped());
    const auto length = static_cast<std::uint32_t>(scanner_.length());
    ResponseHead& head = response_.head;
    invalid_ = parseResponseHead({data + skipped, length}, limits, request_.method,
                                 {buffer.fields(), buffer.connectionTokens()}, head);
    if (invalid_) return Progress::Invalid;
    if (head.status == 101 && (!request_.upgradeRequested || head.upgrade < 0)) {
      invalid_ = {502, request_.upgradeRequested ? "101 Switching Protocols without Upgrade from the member"
                                                 : "unexpected 101 Switching Protocols from the member"};
      return Progress::Invalid;
    }
    if (head.status < 200 && head.status != 101) {
      // An HTTP/1.1 client sees the member's interim responses (103 Early
      // Hints...), as RFC 9110 §15.2 asks of a proxy; a 100 Continue only
      // when it asked for one. The rest are dropped.
      const bool continues = head.status == 100 && incoming_.awaitsContinue;
      if ((head.status != 100 || continues) && incoming_.parsed.versionMinor == 1) {
        interimStart_ = skipped;
        interimLength_ = length;
        interim_ = continues ? Interim::MembersContinue : Interim::Relayed;
        return Progress::Interim;
      }
      std::memmove(data, data + skipped + length, response_.end - skipped - length);
      response_.end -= skipped + length;
      scanner_.reset();
      continue;
    }
    response_.headStart = skipped;
    response_.headLength = length;
    return Progress::Complete;
  }
}

template <class Net>
bool UpstreamAttempt<Net>::wantsMoreBody(std::uint32_t from) noexcept {
  const ResponseHead& head = response_.head;
  const auto capacity = static_cast<std::uint32_t>(response_.buffer.buffer->capacity());
  const std::uint32_t bodyStart = response_.bodyStart();
  if (head.status == 101) return false;  // what follows the head belongs to the new protocol
  if (head.framing == BodyFraming::Length) {
    return bodyStart + head.contentLength <= capacity && response_.end < bodyStart + head.contentLength;
  }
  if (head.framing == BodyFraming::Chunked) {
    // A stream of messages (gRPC's server streaming) must not wait for its end.
    if (incoming_.streamsResponse) return false;
    const char* const data = response_.buffer.buffer->data();
    if (probe_.feed({data + from, response_.end - from}).status != ChunkedDecoder::Status::Incomplete ||
        response_.end >= capacity) {
      return false;
    }
    // Gather only what the member already sent: a chunked body may be a stream
    // of events (server-sent events, a long poll) whose next part comes much
    // later, and what arrived must reach the client now.
    return Net::peek(response_.connection->stream) == Net::Peek::Ready;
  }
  return false;
}

template <class Net>
HttpError UpstreamAttempt<Net>::frameBufferedBody() noexcept {
  const ResponseHead& head = response_.head;
  const std::uint32_t available = response_.end - response_.bodyStart();
  switch (head.framing) {
    case BodyFraming::None:
      response_.done = true;
      if (head.status == 101) {
        response_.take = available;  // the member's first bytes in the new protocol
      } else {
        // Stray bytes after a bodiless response (HEAD, 204, 304): delivered
        // without them, as HAProxy and NGINX do, on a connection not reused.
        response_.extraBytes = available > 0;
        return {};
      }
      break;
    case BodyFraming::Length:
      response_.take = static_cast<std::uint32_t>(std::min<std::uint64_t>(head.contentLength, available));
      response_.remaining = head.contentLength - response_.take;
      response_.done = response_.remaining == 0;
      response_.extraBytes = response_.take < available;
      break;
    case BodyFraming::Chunked: {
      char* const body = response_.buffer.buffer->data() + response_.bodyStart();
      std::size_t payload = 0;
      const auto step = response_.dechunk ? response_.chunks.decodeInPlace({body, available}, payload)
                                          : response_.chunks.feed({body, available});
      if (step.status == ChunkedDecoder::Status::Error) return {502, "invalid chunked body from the member"};
      response_.take = static_cast<std::uint32_t>(response_.dechunk ? payload : step.consumed);
      response_.done = step.status == ChunkedDecoder::Status::Done;
      response_.extraBytes = response_.done && step.consumed < available;
      break;
    }
    case BodyFraming::UntilClose:
      response_.take = available;
      break;
  }
  if (response_.extraBytes) return {502, "the member sent bytes beyond the declared body"};
  return {};
}

template <class Net>
AttemptOutcome UpstreamAttempt<Net>::readFailure(const error_code& ec) const noexcept {
  if (ec == asio::error::timed_out) return AttemptOutcome::ResponseTimedOut;
  if (response_.earlyResponse) return AttemptOutcome::UploadReset;
  return gotBytes_ ? AttemptOutcome::ResetInResponse : AttemptOutcome::ResetBeforeResponse;
}

}  // namespace ringlb::proxy
