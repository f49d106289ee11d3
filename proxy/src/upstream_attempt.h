#pragma once

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

  std::uint32_t bodyStart() const noexcept { return headStart + headLength; }
};

/// One try of a request at one member (Envoy's UpstreamRequest): a pooled or
/// new connection, the request out, the body streamed if it did not come
/// whole, and the response head in, with a body that fits the buffer. Returns
/// a classified outcome; what follows from it (metrics, passive health, a
/// retry) is the exchange's decision. Single-threaded.
template <class Net>
class UpstreamAttempt {
 public:
  UpstreamAttempt(WorkerState<Net>& worker, Downstream<Net>& downstream, IncomingRequest& incoming,
                  ForwardedRequest& request, UpstreamGroup<Net>& group, UpstreamResponse<Net>& response) noexcept
      : worker_(worker), downstream_(downstream), incoming_(incoming), request_(request), group_(group),
        response_(response) {}

  /// Runs the attempt. On ResponseStarted the response waits in `response`.
  Task<AttemptResult> run();

 private:
  enum class Progress : std::uint8_t { NeedMore, Complete, Invalid };

  /// Connects a new connection. Returns the failure, if any.
  Task<std::optional<AttemptOutcome>> connect();
  /// Streams the rest of the body. Returns the failure that ends the attempt, if any.
  Task<std::optional<AttemptOutcome>> upload();
  /// Scans the buffered response: past interim responses, up to a complete final (or 101) head.
  [[gnu::always_inline]] inline Progress scanResponse() noexcept;
  /// Whether a body that fits the buffer is still arriving; feeds bytes from `from` on.
  bool wantsMoreBody(std::uint32_t from) noexcept;
  /// Frames the body bytes already buffered. Returns the framing error, if any.
  [[gnu::always_inline]] inline HttpError frameBufferedBody() noexcept;
  AttemptOutcome readFailure(const error_code& ec) const noexcept;
  [[gnu::always_inline]] inline AttemptResult result(AttemptOutcome outcome, HttpError error = {}) const noexcept;

  WorkerState<Net>& worker_;
  Downstream<Net>& downstream_;
  IncomingRequest& incoming_;
  ForwardedRequest& request_;
  UpstreamGroup<Net>& group_;
  UpstreamResponse<Net>& response_;
  HeadScanner scanner_;
  ChunkedDecoder probe_;
  HttpError invalid_;
  bool reused_ = false;
  bool gotBytes_ = false;
};

template <class Net>
Task<AttemptResult> UpstreamAttempt<Net>::run() {
  const ProxyConfig& config = worker_.config();
  Deadline<Net>& deadline = downstream_.deadline();
  auto& connection = response_.connection;
  connection = worker_.takeIdle(group_, !request_.idempotent);
  reused_ = connection != nullptr;
  if (!connection) {
    const auto failure = co_await connect();
    if (failure) co_return result(*failure);
  }
  deadline.watchUpstream(&connection->stream);

  // The head and whatever of the body is buffered, in one write.
  deadline.set(config.timeouts.idle);
  if (worker_.othersInFlight()) co_await worker_.awaitSendTurn(group_);
  error_code ec;
  const auto sent = sendNow(connection->stream, request_.first, ec);
  // The response cannot have arrived yet, so a recv now would only fail.
  bool responseDue = !ec && sent == totalSize(request_.first) && incoming_.bodyComplete;
  if (!ec && sent != totalSize(request_.first)) {
    deadline.waitOnUpstream();
    co_await asio::async_write(connection->stream, advance(request_.first, sent), noThrow(ec));
  }
  deadline.check(ec);
  if (ec) co_return result(ec == asio::error::timed_out ? AttemptOutcome::SendTimedOut : AttemptOutcome::SendReset);
  if (!incoming_.bodyComplete) {
    const auto failure = co_await upload();
    if (failure) co_return result(*failure, invalid_);
  }

  if (!response_.buffer.buffer) response_.buffer.buffer = worker_.buffers().acquire();
  IoBuffer& buffer = *response_.buffer.buffer;
  response_.end = 0;
  deadline.set(config.timeouts.upstreamResponse);
  Progress progress = scanResponse();
  while (progress == Progress::NeedMore) {
    deadline.waitOnUpstream();
    // Under load, yield first (see othersInFlight()): by the time the rest
    // of the pass and one more poll have run, the response has often come.
    if (responseDue && worker_.othersInFlight()) co_await asio::post(worker_.ioc(), kUseTask);
    responseDue = false;
    std::size_t n = 0;
    if (deadline.expired()) {
      ec = asio::error::operation_aborted;  // expired during the yield, with no read to abort
    } else {
      n = co_await connection->stream.async_read_some(
          asio::buffer(buffer.data() + response_.end, buffer.capacity() - response_.end), noThrow(ec));
    }
    deadline.check(ec);
    if (ec) co_return result(readFailure(ec));
    gotBytes_ = true;
    response_.end += static_cast<std::uint32_t>(n);
    progress = scanResponse();
  }
  if (progress == Progress::Invalid) co_return result(AttemptOutcome::InvalidResponse, invalid_);

  // A body that fits the buffer is read whole before anything is forwarded:
  // a member dying between its head and its body is then a failure before
  // the first byte, and retried on a successor.
  for (std::uint32_t from = response_.bodyStart(); wantsMoreBody(from);) {
    from = response_.end;
    deadline.waitOnUpstream();
    const auto n = co_await connection->stream.async_read_some(
        asio::buffer(buffer.data() + response_.end, buffer.capacity() - response_.end), noThrow(ec));
    deadline.check(ec);
    if (ec) co_return result(readFailure(ec));
    response_.end += static_cast<std::uint32_t>(n);
  }
  if (const HttpError invalid = frameBufferedBody()) co_return result(AttemptOutcome::InvalidResponse, invalid);
  AttemptResult started = result(AttemptOutcome::ResponseStarted);
  started.status = response_.head.status;
  co_return started;
}

template <class Net>
Task<std::optional<AttemptOutcome>> UpstreamAttempt<Net>::connect() {
  auto& connection = response_.connection;
  connection = std::make_unique<UpstreamConnection<Net>>(worker_.ioc());
  connection->generation = group_.generation;
  Deadline<Net>& deadline = downstream_.deadline();
  deadline.watchUpstream(&connection->stream);
  deadline.set(worker_.config().timeouts.upstreamConnect);
  deadline.waitOnUpstream();
  error_code ec = co_await worker_.net().connect(connection->stream, group_);
  deadline.check(ec);
  if (!ec) co_return std::nullopt;
  co_return ec == asio::error::timed_out ? AttemptOutcome::ConnectTimedOut : AttemptOutcome::ConnectFailed;
}

template <class Net>
Task<std::optional<AttemptOutcome>> UpstreamAttempt<Net>::upload() {
  // The rest of the body streams through the input buffer; no replay after this.
  request_.replayable = false;
  Deadline<Net>& deadline = downstream_.deadline();
  error_code ec;
  while (!incoming_.bodyComplete) {
    const BodyPiece piece = co_await downstream_.readBody();
    if (piece.failed) {
      invalid_ = piece.reply;
      co_return AttemptOutcome::DownstreamFailed;
    }
    deadline.waitOnUpstream();
    co_await asio::async_write(response_.connection->stream, asio::buffer(piece.bytes.data(), piece.bytes.size()),
                               noThrow(ec));
    deadline.check(ec);
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
      // An interim response: dropped.
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
    const char* const data = response_.buffer.buffer->data();
    return probe_.feed({data + from, response_.end - from}).status == ChunkedDecoder::Status::Incomplete &&
           response_.end < capacity;
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
        response_.extraBytes = available > 0;
      }
      break;
    case BodyFraming::Length:
      response_.take = static_cast<std::uint32_t>(std::min<std::uint64_t>(head.contentLength, available));
      response_.remaining = head.contentLength - response_.take;
      response_.done = response_.remaining == 0;
      response_.extraBytes = response_.take < available;
      break;
    case BodyFraming::Chunked: {
      const auto step = response_.chunks.feed({response_.buffer.buffer->data() + response_.bodyStart(), available});
      if (step.status == ChunkedDecoder::Status::Error) return {502, "invalid chunked body from the member"};
      response_.take = static_cast<std::uint32_t>(step.consumed);
      response_.done = step.status == ChunkedDecoder::Status::Done;
      response_.extraBytes = response_.done && response_.take < available;
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

template <class Net>
AttemptResult UpstreamAttempt<Net>::result(AttemptOutcome outcome, HttpError error) const noexcept {
  return {outcome, error, 0, reused_};
}

}  // namespace ringlb::proxy
