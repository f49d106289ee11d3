#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "access_log.h"
#include "attempt_verdict.h"
#include "downstream.h"
#include "h2c_attempt.h"
#include "head_rewriter.h"
#include "key_extractor.h"
#include "member_picker.h"
#include "ringlb/ring/hash.h"
#include "upstream_attempt.h"
#include "worker_state.h"

namespace ringlb::proxy {

namespace detail {

inline constexpr std::string_view kViaName = "ringlb";

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

}  // namespace detail

/// One request's way through the proxy, in four steps: read its head from
/// the downstream, route it (key, hash, pick past the members already
/// tried), try members one attempt at a time, and relay the response. Each
/// attempt's outcome is settled in one place (settle), which counts the
/// upstream error, applies passive health and decides on a retry. The
/// exchange knows how the request arrived only through Downstream.
/// Lives for one request on its worker's io_context.
template <class Net>
class Exchange {
 public:
  Exchange(WorkerState<Net>& worker, Downstream<Net>& downstream) noexcept
      : worker_(worker), downstream_(downstream), deadline_(downstream.deadline()), inFlight_{worker}, response_{{}, {worker.buffers(), nullptr}} {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  /// Serves one request. Returns whether the client connection may carry another.
  Task<bool> run();

 private:
  /// Pins the routing table and hashes the request's key. Returns why no member can serve it, if so.
  [[gnu::always_inline]] inline HttpError route();
  /// Rewrites the head for the members. Returns the error if it cannot be forwarded.
  [[gnu::always_inline]] inline HttpError prepareForward();
  /// Picks the next member to try and counts the try. Returns false when none is left.
  [[gnu::always_inline]] inline bool beginAttempt();
  /// The one place an attempt's outcome is accounted: upstream errors,
  /// passive health and the retry decision. Returns the decision.
  [[gnu::always_inline]] inline Retry settle(const AttemptResult& result);
  /// The attempts and the relay for a ring whose members speak h2c (HTTP/2
  /// streams on shared connections); routing, accounting and retries are the
  /// same as HTTP/1.1's. Returns whether the client connection may carry another request.
  Task<bool> runH2c();
  /// Answers the client when no attempt produced a response.
  Task<bool> answerFailure();
  Task<bool> answer(HttpError error, bool keepAlive, MemberStats* stats);
  /// Rewrites the response head for the client and arms the relay's deadline_.
  /// Returns the head with the buffered body, or nothing when the head is too
  /// large to forward (settled as an invalid response).
  [[gnu::always_inline]] inline std::optional<SendBuffers> prepareRelay();
  /// Relays what the first send did not: the buffered part of `response`
  /// after its first `sent` bytes (or the send's error `ec`), then a tunnel
  /// after a 101, or the rest of the body. (Arguments that are small or
  /// references keep Exchange::run's frame in the allocator's fast size class.)
  Task<bool> relayRest(const SendBuffers& response, std::size_t sent, error_code ec);
  /// Sends the attempt's interim response to the client. Returns the error, if any.
  Task<error_code> relayInterim(const UpstreamAttempt<Net>& attempt);
  /// Relays the part of the body that did not come with the head.
  Task<bool> relayBody();
  /// Updates the response's framing with `n` bytes just read. Returns false on invalid framing.
  bool frameBodyPiece(std::size_t n) noexcept;
  [[gnu::always_inline]] inline void finish() noexcept;
  [[gnu::always_inline]] inline void countResponse() const;
  bool keepAfterAnswer() const noexcept { return request_->keepAlive && request_->bodyComplete; }

  WorkerState<Net>& worker_;
  Downstream<Net>& downstream_;
  Deadline<Net>& deadline_;  // the downstream's
  IncomingRequest* request_ = nullptr;
  std::shared_ptr<const RoutingTable> table_;  // pinned for the request
  std::uint64_t hash_ = 0;
  std::uint32_t spreadRank_ = 0;  // a hot key's turn among its first members (0: the owner)
  ForwardedRequest forward_;
  TriedSet tried_;
  unsigned attempts_ = 0;
  bool staleRetried_ = false;
  bool failureCharged_ = true;  // failure_ counts for the member tried last
  bool closeClient_ = false;    // the client connection closes after the response
  HttpError failure_{502, "no member could answer"};
  UpstreamGroup<Net>* group_ = nullptr;
  detail::InFlightGuard<Net> inFlight_;
  UpstreamResponse<Net> response_;
};

template <class Net>
Task<bool> Exchange<Net>::run() {
  // The common cases stay in this frame: a head already buffered, the
  // attempts' waits (see AttemptWait), and a response that is buffered whole
  // and leaves in one send. Only the other cases cost a coroutine frame.
  request_ = downstream_.bufferedHead();
  if (request_ == nullptr) request_ = co_await downstream_.readHead();
  if (request_ == nullptr) co_return false;
  if (const HttpError unavailable = route()) co_return co_await answer(unavailable, keepAfterAnswer(), nullptr);
  if (const HttpError unforwardable = prepareForward()) co_return co_await answer(unforwardable, false, nullptr);
  if (table_->h2c) co_return co_await runH2c();
  // The owner, then distinct successors.
  bool started = false;
  while (!started && attempts_ <= worker_.config().retries && beginAttempt()) {
    UpstreamAttempt<Net> attempt(worker_, downstream_, *request_, forward_, *group_, response_);
    AttemptIo io;
    for (AttemptWait wait = attempt.start(); wait != AttemptWait::Done; wait = attempt.resume(io)) {
      switch (wait) {
        case AttemptWait::Turn:
          co_await worker_.awaitSendTurn(*group_);
          break;
        case AttemptWait::Yield:
          co_await asio::post(worker_.ioc(), kUseTask);
          break;
        case AttemptWait::Read:
          io.n = co_await attempt.stream().async_read_some(attempt.readSpace(), noThrow(io.ec));
          break;
        case AttemptWait::Interim:
          io.ec = co_await relayInterim(attempt);
          break;
        case AttemptWait::Send:
          co_await attempt.sendSlowly();
          break;
        case AttemptWait::Done:
          break;
      }
    }
    started = attempt.result().outcome == AttemptOutcome::ResponseStarted;
    if (settle(attempt.result()) == Retry::Stop) break;
  }
  if (!started) co_return co_await answerFailure();

  const std::optional<SendBuffers> response = prepareRelay();
  if (!response) co_return co_await answer(failure_, keepAfterAnswer(), group_->stats);
  // An HTTP/1.1 client's write waits for the pass's other writes; an HTTP/2
  // stream's only queues frames, which its connection's writer batches anyway.
  if (worker_.othersInFlight() && request_->protocol != DownstreamProtocol::H2c) co_await asio::post(worker_.ioc(), kUseTask);
  error_code ec;
  const std::size_t sent = downstream_.sendNow(*response, ec);
  deadline_.check(ec);
  if (ec || sent != totalSize(*response) || !response_.done || response_.head.status == 101) {
    co_return co_await relayRest(*response, sent, ec);
  }
  finish();
  co_return !closeClient_;
}

template <class Net>
Task<bool> Exchange<Net>::runH2c() {
  // The attempt outlives its loop: the relay reads the response from its stream.
  std::optional<H2cAttempt<Net>> attempt;
  bool started = false;
  while (!started && attempts_ <= worker_.config().retries && beginAttempt()) {
    attempt.emplace(worker_, downstream_, *request_, forward_, *group_, response_);
    const AttemptResult result = co_await attempt->run();
    started = result.outcome == AttemptOutcome::ResponseStarted;
    if (settle(result) == Retry::Stop) break;
  }
  if (!started) co_return co_await answerFailure();
  const std::optional<SendBuffers> response = prepareRelay();
  if (!response) co_return co_await answer(failure_, keepAfterAnswer(), group_->stats);
  error_code ec = co_await downstream_.send(*response);
  while (!ec && !response_.done) {
    const std::optional<AttemptOutcome> failure = co_await attempt->nextBody();
    if (failure) {
      settle({*failure});  // cut short: the client sees the stream or connection end early
      co_return false;
    }
    ec = co_await downstream_.send({asio::buffer(response_.buffer.buffer->data(), response_.take), asio::const_buffer(),
                                    asio::const_buffer()});
  }
  if (ec) co_return false;
  deadline_.watchUpstream(nullptr);
  countResponse();
  co_return !closeClient_;
}

template <class Net>
HttpError Exchange<Net>::route() {
  table_ = worker_.table();
  if (!table_) return {503, "no ring loaded"};
  if (table_->ring->empty()) return {503, "the ring has no members"};
  if (table_->ring->readyCount() == 0) return {503, "no member of the ring is Ready"};
  const std::string_view head(request_->head.data(), request_->head.size());
  hash_ = ring::hashKey(extractKey(head, request_->parsed, table_->key, downstream_.clientIp()).key);
  spreadRank_ = worker_.spreadRank(hash_, coarseNanos());
  return {};
}

template <class Net>
HttpError Exchange<Net>::prepareForward() {
  const RequestHead& parsed = request_->parsed;
  const Rewrite rewrite = rewriteRequestHead(
      request_->head, parsed,
      {downstream_.clientIp(), request_->secure ? "https" : "http", detail::kViaName, worker_.random(), worker_.random(), request_->awaitsContinue},
      request_->scratch);
  if (rewrite.length == 0) return {431, "request head too large to forward"};
  forward_.first = {asio::buffer(request_->head.data(), rewrite.length),
                    asio::buffer(request_->scratch.data(), rewrite.extraLength),
                    asio::buffer(request_->body.data(), request_->body.size())};
  forward_.method = parsed.method;
  forward_.idempotent = isRetryable(parsed.method);
  forward_.upgradeRequested = parsed.upgrade >= 0;
  return {};
}

template <class Net>
bool Exchange<Net>::beginAttempt() {
  const auto pick = pickMember(*table_, hash_, tried_, table_->bounded ? &worker_.load() : nullptr, coarseNanos(),
                               attempts_ == 0 ? spreadRank_ : 0);
  if (!pick) return false;
  tried_.add(pick->index);
  ++attempts_;
  group_ = &worker_.group(pick->index);
  inFlight_.attach(*group_);
  if (attempts_ > 1) group_->stats->retries.add();
  if (pick->spilled) worker_.group(pick->spilledFrom).stats->spills.add();
  if (pick->spread) group_->stats->hotKeySpreads.add();
  return true;
}

template <class Net>
Retry Exchange<Net>::settle(const AttemptResult& result) {
  const AttemptVerdict verdict = judgeAttempt(result, {forward_.idempotent, forward_.replayable, staleRetried_});
  recordVerdict(verdict, *group_->stats, *group_->health, worker_.ejection(), coarseNanos());
  if (result.outcome == AttemptOutcome::ResponseStarted) return verdict.retry;
  deadline_.watchUpstream(nullptr);
  response_.connection.reset();
  if (verdict.retry == Retry::SameMember) {
    staleRetried_ = true;
    tried_.removeLast();
    --attempts_;
  } else {
    failure_ = verdict.reply;
    failureCharged_ = verdict.chargeMember;
  }
  return verdict.retry;
}

template <class Net>
Task<bool> Exchange<Net>::answerFailure() {
  if (attempts_ == 0) co_return co_await answer({503, "no Ready member could be picked"}, keepAfterAnswer(), nullptr);
  if (!failure_) co_return false;  // the client is gone
  co_return co_await answer(failure_, keepAfterAnswer(), failureCharged_ ? group_->stats : nullptr);
}

template <class Net>
Task<bool> Exchange<Net>::answer(HttpError error, bool keepAlive, MemberStats* stats) {
  const bool written = co_await downstream_.replyLocal(error, keepAlive, stats);
  co_return keepAlive && written;
}

template <class Net>
std::optional<SendBuffers> Exchange<Net>::prepareRelay() {
  const ResponseHead& head = response_.head;
  closeClient_ = !request_->keepAlive || !request_->bodyComplete || head.framing == BodyFraming::UntilClose ||
                 response_.dechunk || worker_.draining();  // a de-chunked body ends with the connection
  if (!request_->bodyComplete) downstream_.abandonBody();  // the client may still be sending the body the member refused
  char* const data = response_.buffer.buffer->data();
  const Rewrite rewrite = rewriteResponseHead({data + response_.headStart, response_.headLength}, head,
                                              request_->parsed.versionMinor, closeClient_, detail::kViaName,
                                              request_->scratch);
  if (rewrite.length == 0) {
    // Nothing was forwarded yet, so the client connection stays in sync.
    settle({AttemptOutcome::InvalidResponse, {502, "response head from the member too large to forward"}});
    return std::nullopt;
  }
  deadline_.set(worker_.config().timeouts.idle);
  return SendBuffers{asio::buffer(data + response_.headStart, rewrite.length),
                     asio::buffer(request_->scratch.data(), rewrite.extraLength),
                     asio::buffer(data + response_.bodyStart(), response_.take)};
}

template <class Net>
Task<error_code> Exchange<Net>::relayInterim(const UpstreamAttempt<Net>& attempt) {
  co_return co_await downstream_.send({attempt.interim(), asio::const_buffer(), asio::const_buffer()});
}

template <class Net>
Task<bool> Exchange<Net>::relayRest(const SendBuffers& response, std::size_t sent, error_code ec) {
  const SendBuffers rest = advance(response, sent);
  if (!ec && totalSize(rest) != 0) {
    ec = co_await downstream_.send(rest);
    deadline_.check(ec);
  }
  if (ec) co_return false;
  if (response_.head.status == 101) {
    countResponse();  // the exchange ends with the switch; the tunnel is not a request
    worker_.buffers().release(std::move(response_.buffer.buffer));
    co_await downstream_.tunnel(response_.connection->stream);
    deadline_.watchUpstream(nullptr);
    co_return false;
  }
  if (!response_.done) {
    const bool relayed = co_await relayBody();
    if (!relayed) co_return false;
  }
  finish();
  co_return !closeClient_;
}

template <class Net>
Task<bool> Exchange<Net>::relayBody() {
  IoBuffer& buffer = *response_.buffer.buffer;
  auto& stream = response_.connection->stream;
  error_code ec;
  while (!response_.done) {
    deadline_.set(worker_.config().timeouts.idle);
    deadline_.waitOnUpstream();
    const auto n = co_await stream.async_read_some(asio::buffer(buffer.data(), buffer.capacity()), noThrow(ec));
    deadline_.check(ec);
    if (ec && response_.head.framing == BodyFraming::UntilClose && ec == asio::error::eof) break;
    if (ec) {
      // Truncated: the client sees the connection close before the body ends.
      settle({ec == asio::error::timed_out ? AttemptOutcome::RelayTimedOut : AttemptOutcome::RelayReset});
      co_return false;
    }
    if (!frameBodyPiece(n)) {
      settle({AttemptOutcome::RelayInvalid});
      co_return false;
    }
    ec = co_await downstream_.send({asio::buffer(buffer.data(), response_.take), asio::const_buffer(), asio::const_buffer()});
    if (ec) co_return false;
  }
  co_return true;
}

template <class Net>
bool Exchange<Net>::frameBodyPiece(std::size_t n) noexcept {
  switch (response_.head.framing) {
    case BodyFraming::Length:
      response_.take = static_cast<std::uint32_t>(std::min<std::uint64_t>(response_.remaining, n));
      response_.remaining -= response_.take;
      response_.done = response_.remaining == 0;
      response_.extraBytes = response_.take < n;
      return true;
    case BodyFraming::Chunked: {
      char* const data = response_.buffer.buffer->data();
      std::size_t payload = 0;
      const auto step = response_.dechunk ? response_.chunks.decodeInPlace({data, n}, payload)
                                          : response_.chunks.feed({data, n});
      if (step.status == ChunkedDecoder::Status::Error) return false;
      response_.take = static_cast<std::uint32_t>(response_.dechunk ? payload : step.consumed);
      response_.done = step.status == ChunkedDecoder::Status::Done;
      response_.extraBytes = response_.done && step.consumed < n;
      return true;
    }
    default:
      response_.take = static_cast<std::uint32_t>(n);
      return true;
  }
}

template <class Net>
void Exchange<Net>::finish() noexcept {
  deadline_.watchUpstream(nullptr);
  const ResponseHead& head = response_.head;
  if (head.keepAlive && !response_.extraBytes && head.framing != BodyFraming::UntilClose && !response_.earlyResponse) {
    worker_.putIdle(*group_, std::move(response_.connection));
  }
  response_.connection.reset();
  countResponse();
}

template <class Net>
void Exchange<Net>::countResponse() const {
  const auto duration = monotonicNanos() - request_->start;
  MemberStats& stats = *group_->stats;
  stats.countResponse(response_.head.status, duration, request_->protocol);
  if (worker_.config().log.access) {
    const RequestHead& parsed = request_->parsed;
    const char* const head = request_->head.data();
    logAccess(AccessRecord{downstream_.clientIp(), std::string_view(head, parsed.methodLength),
                           std::string_view(head + parsed.target, parsed.targetLength), response_.head.status, stats.id,
                           duration, {}});
  }
}

}  // namespace ringlb::proxy
