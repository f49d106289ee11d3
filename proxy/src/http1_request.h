#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <boost/asio/write.hpp>

#include "body_pace.h"
#include "chunked_decoder.h"
#include "coarse_clock.h"
#include "downstream.h"
#include "session.h"
#include "worker_state.h"

namespace ringlb::proxy {

/// One request on an HTTP/1.1 client connection, as an exchange's
/// downstream: reads and frames the head from the session's input buffer,
/// streams the body through it, and writes the answer to the session's
/// stream. Holds the request's framing state, so the session (which lives
/// as long as the connection) holds none. Lives for one request.
template <class Net, class Client>
class Http1Request final : public Downstream<Net> {
 public:
  using Stream = typename Net::Stream;

  explicit Http1Request(Session<Net, Client>& session) noexcept : session_(session) {}

  IncomingRequest* bufferedHead() noexcept override;
  Task<IncomingRequest*> readHead() override;
  Task<BodyPiece> readBody() override;
  std::size_t sendNow(const SendBuffers& buffers, error_code& ec) override {
    // A TLS stream cannot stop midway through a record it wrote to a full
    // socket without losing it: it sends only by waiting (send()).
    if constexpr (Client::kTls) return 0;
    else return proxy::sendNow(session_.client_, buffers, ec);
  }
  Task<error_code> send(SendBuffers buffers) override;
  Task<bool> replyLocal(HttpError error, bool keepAlive, MemberStats* stats) override {
    return session_.writeLocal(error, keepAlive, answeringHead(), stats);
  }
  Task<void> tunnel(Stream& upstream) override { return session_.tunnel(upstream); }
  void abandonBody() noexcept override { session_.linger_ = true; }
  Deadline<Net>& deadline() noexcept override { return session_.deadline_; }
  std::string_view clientIp() const noexcept override { return session_.clientIp(); }

 private:
  /// Parses the complete head at `headStart` and frames the body bytes
  /// behind it. Returns the error to answer, if any.
  [[gnu::always_inline]] inline HttpError acceptHead(std::uint32_t headStart, std::uint32_t headLength) noexcept;
  /// Frames the `n` body bytes just read to the start of the input buffer.
  BodyPiece frameBody(std::uint32_t n) noexcept;
  /// Whether the request being answered is a HEAD, whose answer has no body:
  /// by its parse, or by its first bytes when its request line did not parse.
  bool answeringHead() const noexcept;

  Session<Net, Client>& session_;
  IncomingRequest request_;
  ChunkedDecoder chunked_;
  std::uint64_t bodyRemaining_ = 0;  // Content-Length bytes still to read
  std::uint64_t bodyReceived_ = 0;   // body bytes (with chunk framing) read from the client
  std::int64_t bodyWaitedNanos_ = 0;  // time spent waiting on the client for them
};

template <class Net, class Client>
IncomingRequest* Http1Request<Net, Client>::bufferedHead() noexcept {
  Session<Net, Client>& s = session_;
  HeadScanner scanner;
  const auto status = scanner.scan({s.in_->data() + s.inBegin_, s.inEnd_ - s.inBegin_}, s.worker_.limits().maxBytes);
  if (status != HeadScanner::Status::Complete) return nullptr;
  s.requestStart_ = 0;
  const auto headStart = s.inBegin_ + static_cast<std::uint32_t>(scanner.skipped());
  if (acceptHead(headStart, static_cast<std::uint32_t>(scanner.length()))) {
    chunked_.reset();  // readHead() frames it again, and answers
    return nullptr;
  }
  return &request_;
}

template <class Net, class Client>
bool Http1Request<Net, Client>::answeringHead() const noexcept {
  if (request_.parsed.methodLength != 0) return request_.parsed.method == Method::Head;
  std::string_view pending(session_.in_->data() + session_.inBegin_, session_.inEnd_ - session_.inBegin_);
  while (pending.starts_with("\r\n")) pending.remove_prefix(2);
  return pending.starts_with("HEAD ");
}

template <class Net, class Client>
Task<IncomingRequest*> Http1Request<Net, Client>::readHead() {
  Session<Net, Client>& s = session_;
  IoBuffer& in = *s.in_;
  char* const data = in.data();
  const auto capacity = static_cast<std::uint32_t>(in.capacity());
  s.requestStart_ = 0;
  s.deadline_.set(s.worker_.config().timeouts.requestHead);
  HeadScanner scanner;
  for (;;) {
    const auto status = scanner.scan({data + s.inBegin_, s.inEnd_ - s.inBegin_}, s.worker_.limits().maxBytes);
    if (status == HeadScanner::Status::Complete) break;
    if (status == HeadScanner::Status::Error) {
      co_await s.writeLocal(scanner.error(), false, answeringHead());
      co_return nullptr;
    }
    if (s.inEnd_ == capacity) {
      // Only with pipelined bytes ahead (the scanner stops at maxBytes < capacity);
      // the scanner's offsets are relative to inBegin_, so moving is safe.
      std::memmove(data, data + s.inBegin_, s.inEnd_ - s.inBegin_);
      s.inEnd_ -= s.inBegin_;
      s.inBegin_ = 0;
    }
    s.deadline_.waitOnClient();
    error_code ec;
    const auto n = co_await s.client_.async_read_some(asio::buffer(data + s.inEnd_, capacity - s.inEnd_), noThrow(ec));
    s.deadline_.check(ec);
    if (ec) {
      if (ec == asio::error::timed_out) co_await s.writeLocal({408, "request head not received in time"}, false, answeringHead());
      co_return nullptr;
    }
    s.inEnd_ += static_cast<std::uint32_t>(n);
  }
  const auto headStart = s.inBegin_ + static_cast<std::uint32_t>(scanner.skipped());
  if (const HttpError error = acceptHead(headStart, static_cast<std::uint32_t>(scanner.length()))) {
    co_await s.writeLocal(error, false, answeringHead());
    co_return nullptr;
  }
  co_return &request_;
}

template <class Net, class Client>
HttpError Http1Request<Net, Client>::acceptHead(std::uint32_t headStart, std::uint32_t headLength) noexcept {
  Session<Net, Client>& s = session_;
  IoBuffer& in = *s.in_;
  char* const data = in.data();
  RequestHead& parsed = request_.parsed;
  if (const HttpError error =
          parseRequestHead({data + headStart, headLength}, s.worker_.limits(), {in.fields(), in.connectionTokens()}, parsed)) {
    return error;
  }
  s.requestStart_ = monotonicNanos();
  const std::uint32_t bodyStart = headStart + headLength;
  const std::uint64_t maxBody = s.worker_.config().limits.maxBodyBytes;
  if (maxBody != 0 && parsed.framing == BodyFraming::Length && parsed.contentLength > maxBody) {
    return {413, "request body exceeds the limit"};
  }
  std::uint32_t bodyEnd = bodyStart;
  bool bodyComplete = true;
  if (parsed.framing == BodyFraming::Length) {
    const auto take = std::min<std::uint64_t>(parsed.contentLength, s.inEnd_ - bodyStart);
    bodyEnd = bodyStart + static_cast<std::uint32_t>(take);
    bodyRemaining_ = parsed.contentLength - take;
    bodyComplete = bodyRemaining_ == 0;
  } else if (parsed.framing == BodyFraming::Chunked) {
    const auto step = chunked_.feed({data + bodyStart, s.inEnd_ - bodyStart});
    if (step.status == ChunkedDecoder::Status::Error) return {400, chunked_.error()};
    if (maxBody != 0 && chunked_.payloadBytes() > maxBody) return {413, "request body exceeds the limit"};
    bodyEnd = bodyStart + static_cast<std::uint32_t>(step.consumed);
    bodyComplete = step.status == ChunkedDecoder::Status::Done;
  }
  // The request's bytes stay in the buffer for retries; what follows them is the next request.
  if (bodyComplete) s.inBegin_ = bodyEnd;
  request_.head = {data + headStart, headLength};
  request_.scratch = in.aux();
  request_.body = {data + bodyStart, bodyEnd - bodyStart};
  request_.start = s.requestStart_;
  request_.secure = s.secure_;
  request_.bodyComplete = bodyComplete;
  request_.keepAlive = parsed.keepAlive && !s.worker_.draining();
  request_.awaitsContinue = parsed.expectContinue && !bodyComplete && bodyEnd == bodyStart && parsed.versionMinor == 1;
  return {};
}

template <class Net, class Client>
Task<BodyPiece> Http1Request<Net, Client>::readBody() {
  Session<Net, Client>& s = session_;
  IoBuffer& in = *s.in_;
  s.inBegin_ = s.inEnd_ = 0;  // the pieces overwrite the head
  const auto& config = s.worker_.config();
  s.deadline_.set(bodyReadTimeout(config.timeouts.idle, config.limits.minBodyRate, bodyReceived_,
                                  std::chrono::nanoseconds(bodyWaitedNanos_)));
  s.deadline_.waitOnClient();
  error_code ec;
  const auto waitStart = coarseNanos();
  const auto n = co_await s.client_.async_read_some(asio::buffer(in.data(), in.capacity()), noThrow(ec));
  bodyWaitedNanos_ += coarseNanos() - waitStart;
  bodyReceived_ += n;
  s.deadline_.check(ec);
  if (ec) {
    co_return BodyPiece{{}, true,
                        ec == asio::error::timed_out ? HttpError{408, "request body not received in time"} : HttpError{}};
  }
  co_return frameBody(static_cast<std::uint32_t>(n));
}

template <class Net, class Client>
BodyPiece Http1Request<Net, Client>::frameBody(std::uint32_t n) noexcept {
  Session<Net, Client>& s = session_;
  char* const data = s.in_->data();
  std::uint32_t take = 0;
  if (request_.parsed.framing == BodyFraming::Length) {
    take = static_cast<std::uint32_t>(std::min<std::uint64_t>(bodyRemaining_, n));
    bodyRemaining_ -= take;
    request_.bodyComplete = bodyRemaining_ == 0;
  } else {
    const auto step = chunked_.feed({data, n});
    if (step.status == ChunkedDecoder::Status::Error) return {{}, true, {400, chunked_.error()}};
    const std::uint64_t maxBody = s.worker_.config().limits.maxBodyBytes;
    if (maxBody != 0 && chunked_.payloadBytes() > maxBody) return {{}, true, {413, "request body exceeds the limit"}};
    take = static_cast<std::uint32_t>(step.consumed);
    request_.bodyComplete = step.status == ChunkedDecoder::Status::Done;
  }
  s.inBegin_ = take;  // bytes after the body are the next request
  s.inEnd_ = n;
  return {{data, take}, false, {}};
}

template <class Net, class Client>
Task<error_code> Http1Request<Net, Client>::send(SendBuffers buffers) {
  Session<Net, Client>& s = session_;
  s.deadline_.waitOnClient();
  error_code ec;
  if constexpr (Client::kTls) {
    // Each buffer would be a record and a socket write of its own: one record
    // (and one write) carries a head and its body when they fit one buffer.
    const std::size_t total = totalSize(buffers);
    BufferLease joined{s.worker_.buffers(), nullptr};
    if (buffers[1].size() + buffers[2].size() != 0) joined.buffer = s.worker_.buffers().acquire();
    if (joined.buffer && total <= joined.buffer->capacity()) {
      asio::buffer_copy(asio::buffer(joined.buffer->data(), total), buffers);
      co_await asio::async_write(s.client_, asio::buffer(joined.buffer->data(), total), noThrow(ec));
      s.deadline_.check(ec);
      co_return ec;
    }
  }
  co_await asio::async_write(s.client_, buffers, noThrow(ec));
  s.deadline_.check(ec);
  co_return ec;
}

}  // namespace ringlb::proxy
