#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "attempt_outcome.h"
#include "chunked_decoder.h"
#include "downstream.h"
#include "h2c_message.h"
#include "h2c_upstream.h"
#include "upstream_attempt.h"
#include "worker_state.h"

namespace ringlb::proxy {

/// One try of a request at a member of an h2c ring: a stream on one of the
/// worker's h2c connections to the member (a new one when none has room),
/// the request's HTTP/1.1 head translated to HTTP/2 fields, its body sent as
/// DATA (de-chunked), and the response turned back into the HTTP/1.1 bytes
/// the exchange relays: a head, a chunked body as DATA arrives, and the
/// trailing HEADERS as the chunked trailer section (gRPC's status). Ends
/// with the same classified outcomes as UpstreamAttempt, so the exchange's
/// one place (settle) counts, ejects and decides on retries alike; a stream
/// the member never processed (REFUSED_STREAM, above a GOAWAY, or never
/// sent) is StreamRefused. Lives until the exchange has relayed the
/// response; its destruction cancels a stream still open. Single-threaded.
template <class Net>
class H2cAttempt {
 public:
  H2cAttempt(WorkerState<Net>& worker, Downstream<Net>& downstream, IncomingRequest& incoming,
             ForwardedRequest& request, UpstreamGroup<Net>& group, UpstreamResponse<Net>& response)
      : worker_(worker), downstream_(downstream), deadline_(downstream.deadline()), incoming_(incoming),
        request_(request), group_(group), response_(response), call_(worker.ioc()) {}
  ~H2cAttempt() {
    if (connection_) {
      connection_->detach(call_);
      connection_->release();
    }
  }
  H2cAttempt(const H2cAttempt&) = delete;
  H2cAttempt& operator=(const H2cAttempt&) = delete;

  /// Runs the attempt up to the response head (with the body bytes already
  /// received). On ResponseStarted the head is parsed in `response`.
  Task<AttemptResult> run();
  /// Puts the next part of the body in the response buffer (response.take
  /// bytes, response.done with the last). Returns the relay failure, if any.
  Task<std::optional<AttemptOutcome>> nextBody();

 private:
  /// Waits for the call's next event, or until the deadline's phase ends. Returns false on timeout.
  Task<bool> awaitCall();
  Task<std::optional<AttemptOutcome>> connect(bool isNew);
  /// Queues `bytes` of the request body for DATA, de-chunking a chunked body. Returns false on bad chunking.
  bool queueBody(std::span<const char> bytes);
  /// Streams the body pieces the downstream still has. Returns the failure, if any.
  Task<std::optional<AttemptOutcome>> upload();
  AttemptResult headFailure() const noexcept;
  /// Builds and parses the HTTP/1.1 response head. Returns the error, if the head is unusable.
  HttpError placeHead();
  /// Moves received body bytes (and, at the end, the trailers) into the buffer from `from`.
  void fillBody(std::uint32_t from);

  WorkerState<Net>& worker_;
  Downstream<Net>& downstream_;
  Deadline<Net>& deadline_;
  IncomingRequest& incoming_;
  ForwardedRequest& request_;
  UpstreamGroup<Net>& group_;
  UpstreamResponse<Net>& response_;
  H2cCall call_;
  std::shared_ptr<H2cUpstreamConnection<Net>> connection_;
  ChunkedDecoder requestChunks_;
  std::string requestTrailers_;  // a chunked request's trailers: not forwarded
  std::string scratch_;
  HttpError uploadError_;  // what the client gets when its body failed mid-upload
  bool reused_ = false;    // the stream went on a connection opened earlier
  bool bodiless_ = false;
};

template <class Net>
Task<bool> H2cAttempt<Net>::awaitCall() {
  if (deadline_.expired()) co_return false;  // the watchdog was first
  const std::int64_t left = deadline_.at() == 0 ? 0 : deadline_.at() - coarseNanos();
  if (deadline_.at() != 0 && left <= 0) co_return false;
  deadline_.waitOnUpstream();  // the watchdog aborts nothing of ours; the timer below is the deadline
  if (deadline_.at() == 0) {
    call_.timer.expires_at(SteadyTimer::time_point::max());
  } else {
    call_.timer.expires_after(std::chrono::nanoseconds(left));
  }
  error_code ec;
  co_await call_.timer.async_wait(noThrow(ec));
  co_return ec == asio::error::operation_aborted && !deadline_.expired();
}

template <class Net>
Task<std::optional<AttemptOutcome>> H2cAttempt<Net>::connect(bool isNew) {
  if (isNew) {
    deadline_.set(worker_.config().timeouts.upstreamConnect);
    // The connect's timeout: the watchdog aborts the socket while it connects.
    deadline_.watchUpstream(&connection_->socket());
    deadline_.waitOnUpstream();
    error_code ec = co_await connection_->connect(worker_.net(), group_);
    deadline_.watchUpstream(nullptr);
    deadline_.check(ec);
    if (ec) co_return ec == asio::error::timed_out ? AttemptOutcome::ConnectTimedOut : AttemptOutcome::ConnectFailed;
    co_return std::nullopt;
  }
  if (connection_->connecting()) {
    error_code ignored;
    co_await connection_->awaitReady(ignored);
  }
  if (connection_->dead()) co_return AttemptOutcome::ConnectFailed;
  co_return std::nullopt;
}

template <class Net>
bool H2cAttempt<Net>::queueBody(std::span<const char> bytes) {
  if (incoming_.parsed.framing != BodyFraming::Chunked) {
    call_.upload.append(bytes.data(), bytes.size());
    return true;
  }
  scratch_.assign(bytes.data(), bytes.size());
  std::size_t payload = 0;
  const auto step = requestChunks_.decodeInPlace({scratch_.data(), scratch_.size()}, payload, requestTrailers_);
  if (step.status == ChunkedDecoder::Status::Error) return false;
  call_.upload.append(scratch_.data(), payload);
  return true;
}

template <class Net>
AttemptResult H2cAttempt<Net>::headFailure() const noexcept {
  if (call_.refused) return {AttemptOutcome::StreamRefused, {}, 0, reused_};
  return {AttemptOutcome::ResetBeforeResponse, {}, 0, reused_};
}

template <class Net>
Task<AttemptResult> H2cAttempt<Net>::run() {
  bool isNew = false;
  connection_ = reserveH2c(worker_.ioc(), group_, isNew);
  reused_ = !isNew;
  const std::optional<AttemptOutcome> connectFailure = co_await connect(isNew);
  if (connectFailure) co_return AttemptResult{*connectFailure};
  const auto& first = request_.first;
  std::string head(static_cast<const char*>(first[0].data()), first[0].size());
  head.append(static_cast<const char*>(first[1].data()), first[1].size());
  H2cRequestFields fields;
  if (const HttpError invalid = toH2cRequest(head, "http", fields)) co_return AttemptResult{AttemptOutcome::InvalidResponse, invalid};
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.fields.size());
  for (auto& [name, value] : fields.fields) {
    nv.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                  name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  const BodyFraming framing = incoming_.parsed.framing;
  const bool hasBody = framing == BodyFraming::Chunked || (framing == BodyFraming::Length && incoming_.parsed.contentLength > 0);
  if (hasBody) {
    if (!queueBody({static_cast<const char*>(first[2].data()), first[2].size()})) {
      co_return AttemptResult{AttemptOutcome::DownstreamFailed, {400, "invalid chunked request body"}};
    }
    call_.uploadEnded = incoming_.bodyComplete;
  }
  bodiless_ = request_.method == Method::Head;
  deadline_.set(worker_.config().timeouts.idle);
  if (!connection_->submit(call_, nv, hasBody)) co_return AttemptResult{AttemptOutcome::StreamRefused};
  connection_->track(call_);
  if (hasBody && !incoming_.bodyComplete) {
    if (incoming_.awaitsContinue) {
      // The stream is open, so the member takes the body: the client is told to send it.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      const error_code told = co_await downstream_.send({asio::buffer(kContinue.data(), kContinue.size()),
                                                         asio::const_buffer(), asio::const_buffer()});
      if (told) co_return AttemptResult{AttemptOutcome::DownstreamFailed};
      incoming_.awaitsContinue = false;
    }
    const std::optional<AttemptOutcome> uploadFailure = co_await upload();
    if (uploadFailure) co_return AttemptResult{*uploadFailure, uploadError_};
  }
  deadline_.set(worker_.config().timeouts.upstreamResponse);
  while (!call_.headComplete && !call_.closed) {
    const bool woken = co_await awaitCall();
    if (!woken) co_return AttemptResult{AttemptOutcome::ResponseTimedOut, {}, 0, reused_};
  }
  if (!call_.headComplete) co_return headFailure();
  if (const HttpError invalid = placeHead()) co_return AttemptResult{AttemptOutcome::InvalidResponse, invalid, 0, reused_};
  fillBody(response_.bodyStart());
  co_return AttemptResult{AttemptOutcome::ResponseStarted, {}, response_.head.status, reused_};
}

template <class Net>
Task<std::optional<AttemptOutcome>> H2cAttempt<Net>::upload() {
  // The body streams from here on: no replay on another member.
  request_.replayable = false;
  while (!incoming_.bodyComplete) {
    deadline_.set(worker_.config().timeouts.idle);
    while (call_.uploadQueued() != 0 && !call_.closed) {
      const bool woken = co_await awaitCall();
      if (!woken) co_return AttemptOutcome::UploadTimedOut;
    }
    if (call_.closed) co_return std::nullopt;  // the member answered (or failed) early: its answer decides
    const BodyPiece piece = co_await downstream_.readBody();
    if (piece.failed) {
      uploadError_ = piece.reply;
      co_return AttemptOutcome::DownstreamFailed;
    }
    if (!queueBody(piece.bytes)) {
      uploadError_ = {400, "invalid chunked request body"};
      co_return AttemptOutcome::DownstreamFailed;
    }
    call_.uploadEnded = incoming_.bodyComplete;
    connection_->resumeUpload(call_);
  }
  co_return std::nullopt;
}

template <class Net>
HttpError H2cAttempt<Net>::placeHead() {
  const std::uint16_t status = call_.status;
  bodiless_ = bodiless_ || status == 204 || status == 304;
  const std::string head = http1HeadFromH2c(status, call_.fields, call_.hasContentLength, bodiless_);
  if (!response_.buffer.buffer) response_.buffer.buffer = worker_.buffers().acquire();
  IoBuffer& buffer = *response_.buffer.buffer;
  // Room for the head and at least a chunk's framing.
  if (head.size() + 64 > buffer.capacity()) return {502, "response head from the member too large"};
  std::copy(head.begin(), head.end(), buffer.data());
  response_.headStart = 0;
  response_.headLength = static_cast<std::uint32_t>(head.size());
  response_.end = response_.headLength;
  const HttpError invalid = parseResponseHead({buffer.data(), head.size()}, worker_.limits(), request_.method,
                                              {buffer.fields(), buffer.connectionTokens()}, response_.head);
  if (invalid) return invalid;
  // RFC 9112 §6.1: no chunked to an HTTP/1.0 client; the body goes as it is, delimited by the close.
  response_.dechunk = response_.head.framing == BodyFraming::Chunked && incoming_.parsed.versionMinor == 0;
  return {};
}

template <class Net>
void H2cAttempt<Net>::fillBody(std::uint32_t from) {
  IoBuffer& buffer = *response_.buffer.buffer;
  const bool chunked = response_.head.framing == BodyFraming::Chunked && !response_.dechunk;
  std::size_t room = buffer.capacity() - from;
  std::size_t payload = 0;
  scratch_.clear();
  if (!bodiless_ && !call_.body.empty()) {
    constexpr std::size_t kChunkFraming = 12;  // hex size and two CRLFs
    payload = std::min(call_.body.size(), chunked ? room - kChunkFraming : room);
    if (chunked) {
      appendChunk(scratch_, std::string_view(call_.body).substr(0, payload));
    } else {
      scratch_.assign(call_.body, 0, payload);
    }
    call_.body.erase(0, payload);
  } else if (bodiless_) {
    payload = call_.body.size();
    call_.body.clear();
  }
  connection_->consumed(call_, payload);
  room -= scratch_.size();
  bool done = call_.ended && call_.body.empty();
  if (done && chunked) {
    // The trailing HEADERS become the chunked trailer section; if they do not fit, the next fill sends them.
    if (call_.trailers.size() + 5 <= room) {
      appendLastChunk(scratch_, call_.trailers);
    } else {
      done = false;
    }
  }
  std::copy(scratch_.begin(), scratch_.end(), buffer.data() + from);
  response_.take = static_cast<std::uint32_t>(scratch_.size());
  response_.end = from + response_.take;
  response_.done = done || bodiless_;
}

template <class Net>
Task<std::optional<AttemptOutcome>> H2cAttempt<Net>::nextBody() {
  deadline_.set(worker_.config().timeouts.idle);
  while (call_.body.empty() && !call_.ended) {
    if (call_.closed) co_return AttemptOutcome::RelayReset;
    const bool woken = co_await awaitCall();
    if (!woken) co_return AttemptOutcome::RelayTimedOut;
  }
  fillBody(0);
  if (call_.trailers.size() + 5 > response_.buffer.buffer->capacity()) co_return AttemptOutcome::RelayInvalid;
  co_return std::nullopt;
}

}  // namespace ringlb::proxy
