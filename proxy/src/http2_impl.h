#pragma once

// Member definitions of Http2Connection and Http2Stream; included where the
// session's are (session_impl.h), for the transports the proxy instantiates.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "access_log.h"
#include "body_pace.h"
#include "coarse_clock.h"
#include "exchange.h"
#include "grpc_status.h"
#include "head_parser.h"
#include "http2_connection.h"
#include "nghttp2_callbacks.h"
#include "http2_stream.h"
#include "session.h"
#include "worker_state.h"

namespace ringlb::proxy {

namespace h2detail {

inline constexpr std::size_t kHighWater = 64 * 1024;  // response bytes a stream queues before its sender waits
inline constexpr std::size_t kWriteBatch = 64 * 1024;  // frames gathered into one socket write
inline constexpr int kWriteBatchFrames = 256;
// Finished streams' text kept per connection: as many as run at once (up to
// this), so a busy connection allocates none; an idle one keeps a few.
inline constexpr std::size_t kTextPoolSize = 128;
inline constexpr std::size_t kTextPoolIdle = 4;
inline constexpr std::size_t kTextPoolMaxCapacity = 4096;  // larger text is freed, not kept

inline nghttp2_nv nv(std::string_view name, std::string_view value) noexcept {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline void toLower(std::span<char> s) noexcept {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

/// HTTP/1.1 fields that do not exist in HTTP/2 (RFC 9113 §8.2.2).
inline bool connectionSpecific(std::string_view lowerName) noexcept {
  return lowerName == "connection" || lowerName == "keep-alive" || lowerName == "proxy-connection" ||
         lowerName == "transfer-encoding" || lowerName == "upgrade" || lowerName == "te" ||
         lowerName == "http2-settings";
}

/// What a response head's fields say about its body's framing.
struct BodyFields {
  bool chunked = false;      // Transfer-Encoding names chunked
  bool lengthKnown = false;  // a valid Content-Length
  std::uint64_t length = 0;
};

inline bool containsChunked(std::string_view value) noexcept {
  constexpr std::string_view kChunked = "chunked";
  for (std::size_t at = 0; at + kChunked.size() <= value.size(); ++at) {
    std::size_t i = 0;
    while (i < kChunked.size() && (value[at + i] | 0x20) == kChunked[i]) ++i;
    if (i == kChunked.size()) return true;
  }
  return false;
}

/// Splits the "name: value\r\n" lines of `lines` from `at` (names lowercased
/// in place) into nghttp2 name/value pairs pointing into `lines`, dropping
/// connection-specific fields but reading their framing. Returns that framing.
inline BodyFields fieldLines(std::string& lines, std::size_t at, std::vector<nghttp2_nv>& out) {
  BodyFields body;
  const std::string_view all(lines);
  while (at < all.size()) {
    const auto eol = all.find("\r\n", at);
    if (eol == std::string_view::npos) break;
    const std::string_view line = all.substr(at, eol - at);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && colon > 0) {
      toLower({lines.data() + at, colon});
      const std::string_view name = line.substr(0, colon);
      const std::string_view value = trim(line.substr(colon + 1));
      if (name == "content-length") {
        body.lengthKnown =
            std::from_chars(value.data(), value.data() + value.size(), body.length).ec == std::errc();
      }
      if (!connectionSpecific(name)) {
        out.push_back(nv(name, value));
      } else if (name == "transfer-encoding" && containsChunked(value)) {
        // Dropped as connection-specific, its framing still holds (the member's
        // head was validated: chunked, if present, is its last coding).
        body.chunked = true;
      }
    }
    at = eol + 2;
  }
  return body;
}

}  // namespace h2detail

// ---------------------------------------------------------------- connection

template <class Net, class Client>
Http2Connection<Net, Client>::Http2Connection(Session<Net, Client>& session)
    : session_(session), writerWake_(session.worker_.ioc()), endedWake_(session.worker_.ioc()) {}

template <class Net, class Client>
Http2Connection<Net, Client>::~Http2Connection() {
  streams_.clear();
  if (h2_ != nullptr) nghttp2_session_del(h2_);
}

template <class Net, class Client>
std::unique_ptr<Http2StreamText> Http2Connection<Net, Client>::acquireText() {
  if (textPool_.empty()) return std::make_unique<Http2StreamText>();
  std::unique_ptr<Http2StreamText> text = std::move(textPool_.back());
  textPool_.pop_back();
  return text;
}

template <class Net, class Client>
void Http2Connection<Net, Client>::releaseText(std::unique_ptr<Http2StreamText> text) noexcept {
  if (!text || textPool_.size() >= textPool_.capacity() || text->capacity() > h2detail::kTextPoolMaxCapacity) return;
  text->clear();
  textPool_.push_back(std::move(text));
}

template <class Net, class Client>
WorkerState<Net>& Http2Connection<Net, Client>::worker() noexcept {
  return session_.worker_;
}

template <class Net, class Client>
asio::io_context& Http2Connection<Net, Client>::ioc() noexcept {
  return session_.worker_.ioc();
}

template <class Net, class Client>
bool Http2Connection<Net, Client>::secure() const noexcept {
  return session_.secure_;
}

template <class Net, class Client>
std::string_view Http2Connection<Net, Client>::clientIp() const noexcept {
  return session_.clientIp();
}

template <class Net, class Client>
bool Http2Connection<Net, Client>::init() {
  nghttp2_session_callbacks* callbacks = newSessionCallbacks<Http2Connection>();
  if (callbacks == nullptr) return false;
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  const auto& limits = worker().config().http2;
  // The window opens as exchanges take the body, not as bytes arrive: a
  // client cannot make the proxy buffer more than a window per stream.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_stream_reset_rate_limit(option, limits.resetBurst, limits.resetRate);
  nghttp2_option_set_max_continuations(option, limits.maxContinuations);
  // Room for as many texts as streams run at once: releaseText never reallocates.
  textPool_.reserve(std::min<std::size_t>(limits.maxConcurrentStreams, h2detail::kTextPoolSize));
  const int created = nghttp2_session_server_new2(&h2_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (created != 0) return false;
  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits.streamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(worker().config().limits.maxHeaderBytes)},
  }};
  if (nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0) return false;
  return nghttp2_session_set_local_window_size(h2_, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<std::int32_t>(limits.connectionWindow)) == 0;
}

template <class Net, class Client>
Task<void> Http2Connection<Net, Client>::run() {
  if (!init()) co_return;
  worker().metrics().activeHttp2Connections.fetch_add(1, std::memory_order_relaxed);
  idleSince_ = coarseNanos();
  // The bytes the session read while it looked for the preface.
  const bool ok = receive(session_.in_->data() + session_.inBegin_, session_.inEnd_ - session_.inBegin_);
  session_.inBegin_ = session_.inEnd_ = 0;
  asio::co_spawn(ioc(), writeLoop(), [this](std::exception_ptr error) {
    logSessionFailure(error);
    writerDone_ = true;
    endedWake_.notify();
  });
  if (ok) co_await readLoop();
  readerDone_ = true;
  // The client is gone or the connection closes: waiting exchanges wake and end.
  for (auto& [id, stream] : streams_) stream->onClose();
  writerWake_.notify();
  error_code ignored;
  // Bounded: each exchange ends within its deadlines, the writer with the socket.
  while (!writerDone_ || running_ > 0) co_await endedWake_.wait(ignored);
  worker().metrics().activeHttp2Connections.fetch_sub(1, std::memory_order_relaxed);
}

template <class Net, class Client>
Task<void> Http2Connection<Net, Client>::readLoop() {
  IoBuffer& in = *session_.in_;
  error_code ec;
  while (!closing_ && (nghttp2_session_want_read(h2_) != 0 || nghttp2_session_want_write(h2_) != 0)) {
    const auto n = co_await session_.client_.async_read_some(asio::buffer(in.data(), in.capacity()), noThrow(ec));
    if (ec || closing_) co_return;
    if (!receive(in.data(), n)) co_return;
  }
  // nghttp2 is done with the connection (the client's GOAWAY, and no stream
  // left): the close drains what the client still sends, so it sees the close
  // rather than a reset.
  if (!closing_) session_.linger_ = true;
}

template <class Net, class Client>
bool Http2Connection<Net, Client>::receive(const char* data, std::size_t n) noexcept {
  if (n == 0) return true;
  const auto consumed = nghttp2_session_mem_recv(h2_, reinterpret_cast<const std::uint8_t*>(data), n);
  writerWake_.notify();
  if (consumed < 0) {
    const int error = static_cast<int>(consumed);
    spdlog::debug("HTTP/2 connection from {} closed: {}", clientIp(), nghttp2_strerror(error));
    if (error != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      // The client learns why (nghttp2 leaves a CONTINUATION flood or a
      // flood of frames to answer without a GOAWAY), and the close drains
      // what it still sends, so the GOAWAY is not lost to a reset.
      const bool flood = error == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS || error == NGHTTP2_ERR_FLOODED;
      nghttp2_session_terminate_session(h2_, flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      session_.linger_ = true;
    }
    return false;
  }
  return true;
}

template <class Net, class Client>
Task<void> Http2Connection<Net, Client>::writeLoop() {
  error_code ec;
  for (;;) {
    while (!ec && nghttp2_session_want_write(h2_) != 0) {
      out_.clear();
      for (int frames = 0; frames < h2detail::kWriteBatchFrames && out_.size() < h2detail::kWriteBatch; ++frames) {
        const std::uint8_t* data = nullptr;
        const auto n = nghttp2_session_mem_send(h2_, &data);
        if (n < 0) {
          ec = asio::error::invalid_argument;
          break;
        }
        if (n == 0) break;
        out_.insert(out_.end(), data, data + n);
      }
      if (out_.empty()) break;
      writeSince_ = coarseNanos();
      co_await asio::async_write(session_.client_, asio::buffer(out_), noThrow(ec));
      writeSince_ = 0;
    }
    const bool finished = nghttp2_session_want_read(h2_) == 0 && nghttp2_session_want_write(h2_) == 0;
    if (ec || finished || readerDone_) {
      if (!readerDone_) {
        // nghttp2 ended the connection (a GOAWAY went out): the close drains
        // what the client still sends, so the GOAWAY is not lost to a reset.
        if (finished) session_.linger_ = true;
        closing_ = true;
        Client::abort(session_.client_);  // the reader ends
      }
      co_return;
    }
    co_await writerWake_.wait(ec);
    ec = {};
  }
}

template <class Net, class Client>
std::int64_t Http2Connection<Net, Client>::deadline() const noexcept {
  const auto& timeouts = session_.worker_.config().timeouts;
  const auto idle = std::chrono::duration_cast<std::chrono::nanoseconds>(timeouts.idle).count();
  std::int64_t earliest = 0;
  const auto consider = [&earliest](std::int64_t at) {
    if (at != 0 && (earliest == 0 || at < earliest)) earliest = at;
  };
  if (idleSince_ != 0) consider(idleSince_ + idle);
  if (writeSince_ != 0) consider(writeSince_ + idle);
  for (const auto& [id, stream] : streams_) consider(stream->deadline().at());
  return earliest;
}

template <class Net, class Client>
void Http2Connection<Net, Client>::expireDue(std::int64_t nowNanos) noexcept {
  const auto idle = std::chrono::duration_cast<std::chrono::nanoseconds>(session_.worker_.config().timeouts.idle).count();
  if (writeSince_ != 0 && writeSince_ + idle <= nowNanos) {
    idleSince_ = writeSince_ = 0;  // the client reads nothing: nothing more can be said
    closing_ = true;
    Client::abort(session_.client_);
  } else if (idleSince_ != 0 && idleSince_ + idle <= nowNanos) {
    idleSince_ = 0;  // a GOAWAY, then the writer closes
    nghttp2_session_terminate_session(h2_, NGHTTP2_NO_ERROR);
    writerWake_.notify();
  }
  for (auto& [id, stream] : streams_) {
    const auto at = stream->deadline().at();
    if (at != 0 && at <= nowNanos) stream->expire();
  }
}

template <class Net, class Client>
void Http2Connection<Net, Client>::drain() noexcept {
  if (h2_ == nullptr) return;
  nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h2_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  writerWake_.notify();
}

template <class Net, class Client>
Http2Stream<Net, Client>* Http2Connection<Net, Client>::find(std::int32_t id) noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

template <class Net, class Client>
void Http2Connection<Net, Client>::startExchange(Http2Stream<Net, Client>& stream) {
  stream.running = true;
  ++running_;
  idleSince_ = 0;
  const std::int32_t id = stream.id();
  asio::co_spawn(
      ioc(),
      [](WorkerState<Net>& state, Http2Stream<Net, Client>& downstream) -> Task<void> {
        Exchange<Net> exchange(state, downstream);
        co_await exchange.run();
        downstream.finishResponse();
      }(worker(), stream),
      [this, id](std::exception_ptr error) {
        logSessionFailure(error);
        onExchangeEnded(id);
      });
}

template <class Net, class Client>
void Http2Connection<Net, Client>::onExchangeEnded(std::int32_t id) noexcept {
  --running_;
  // Idle is no request running: a stream the client keeps open, or a header block it never ends, holds nothing up.
  if (running_ == 0) {
    idleSince_ = coarseNanos();
    if (textPool_.size() > h2detail::kTextPoolIdle) textPool_.resize(h2detail::kTextPoolIdle);
  }
  if (Http2Stream<Net, Client>* stream = find(id)) stream->running = false;
  eraseIfDone(id);
  writerWake_.notify();
  endedWake_.notify();
}

template <class Net, class Client>
void Http2Connection<Net, Client>::eraseIfDone(std::int32_t id) noexcept {
  const auto it = streams_.find(id);
  if (it == streams_.end() || it->second->running || !it->second->closed()) return;
  streams_.erase(it);
}

template <class Net, class Client>
int Http2Connection<Net, Client>::onBeginHeaders(nghttp2_session* h2, const nghttp2_frame* frame, void* self) {
  auto& connection = *static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  const std::int32_t id = frame->hd.stream_id;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    if (Http2Stream<Net, Client>* stream = connection.find(id)) stream->onTrailersBegin();
    return 0;
  }
  // Exchanges of streams the client already reset still run: they count too,
  // so resetting streams cannot keep more requests in flight than the limit.
  if (connection.running_ >= connection.worker().config().http2.maxConcurrentStreams) {
    nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  auto stream = std::make_unique<Http2Stream<Net, Client>>(connection, id);
  nghttp2_session_set_stream_user_data(h2, id, stream.get());
  connection.streams_[id] = std::move(stream);
  return 0;
}

template <class Net, class Client>
int Http2Connection<Net, Client>::onHeader(nghttp2_session* h2, const nghttp2_frame* frame, const std::uint8_t* name,
                                   std::size_t nameLength, const std::uint8_t* value, std::size_t valueLength,
                                   std::uint8_t, void*) {
  auto* stream = static_cast<Http2Stream<Net, Client>*>(nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id));
  if (stream == nullptr) return 0;
  return stream->onHeader({reinterpret_cast<const char*>(name), nameLength},
                          {reinterpret_cast<const char*>(value), valueLength});
}

template <class Net, class Client>
int Http2Connection<Net, Client>::onFrameReceived(nghttp2_session* h2, const nghttp2_frame* frame, void* self) {
  auto& connection = *static_cast<Http2Connection*>(self);
  const bool endStream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto* stream = static_cast<Http2Stream<Net, Client>*>(nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id));
  if (stream == nullptr) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    stream->onHeadEnd(endStream);
    connection.startExchange(*stream);
    return 0;
  }
  if (endStream) stream->onEndStream();
  return 0;
}

template <class Net, class Client>
int Http2Connection<Net, Client>::onFrameSent(nghttp2_session* h2, const nghttp2_frame* frame, void*) {
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
    return 0;
  }
  auto* stream = static_cast<Http2Stream<Net, Client>*>(nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id));
  if (stream != nullptr) stream->onResponseEnded();
  return 0;
}

template <class Net, class Client>
int Http2Connection<Net, Client>::onDataChunk(nghttp2_session* h2, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                                      std::size_t length, void*) {
  auto* stream = static_cast<Http2Stream<Net, Client>*>(nghttp2_session_get_stream_user_data(h2, id));
  if (stream == nullptr) {
    nghttp2_session_consume_connection(h2, length);  // a refused stream's bytes still count against the connection
    return 0;
  }
  stream->onData(data, length);
  return 0;
}

template <class Net, class Client>
int Http2Connection<Net, Client>::onStreamClose(nghttp2_session*, std::int32_t id, std::uint32_t, void* self) {
  auto& connection = *static_cast<Http2Connection*>(self);
  Http2Stream<Net, Client>* stream = connection.find(id);
  if (stream == nullptr) return 0;
  stream->onClose();
  connection.eraseIfDone(id);
  return 0;
}

// ---------------------------------------------------------------- stream

template <class Net, class Client>
Http2Stream<Net, Client>::Http2Stream(Http2Connection<Net, Client>& connection, std::int32_t id)
    : connection_(connection), id_(id), wake_(connection.ioc()), text_(connection.acquireText()) {}

template <class Net, class Client>
Http2Stream<Net, Client>::~Http2Stream() {
  if (in_) connection_.worker().buffers().release(std::move(in_));
  connection_.releaseText(std::move(text_));
}

template <class Net, class Client>
std::string_view Http2Stream<Net, Client>::clientIp() const noexcept {
  return connection_.clientIp();
}

template <class Net, class Client>
int Http2Stream<Net, Client>::onHeader(std::string_view name, std::string_view value) {
  const auto& limits = connection_.worker().config().limits;
  headerBytes_ += name.size() + value.size() + 32;  // RFC 9113 §6.5.2's accounting
  if (headerBytes_ > limits.maxHeaderBytes || ++headerCount_ > limits.maxHeaders) {
    tooLarge_ = true;  // answered 431 once the block ends; nghttp2 keeps decoding HPACK meanwhile
    return 0;
  }
  if (tooLarge_) return 0;
  if (inTrailers_) {
    text_->trailers.append(name).append(": ").append(value).append("\r\n");
    return 0;
  }
  if (!name.empty() && name.front() == ':') {
    if (name == ":method") text_->method = value;
    else if (name == ":path") text_->path = value;
    else if (name == ":authority") text_->authority = value;
    return 0;  // :scheme says nothing the member needs (nghttp2 checked it is there)
  }
  if (name == "host") {
    if (!text_->authority.empty()) return 0;  // :authority wins (RFC 9113 §8.3.1)
    text_->authority = value;
    return 0;
  }
  if (name == "cookie") {
    // HTTP/2 may split cookies into several fields; HTTP/1.1 has one (RFC 9113 §8.2.3).
    if (!text_->cookies.empty()) text_->cookies.append("; ");
    text_->cookies.append(value);
    return 0;
  }
  if (name == "content-length") hasContentLength_ = true;
  if (name == "content-type") grpc_ = isGrpcContentType(value);
  if (name == "grpc-timeout") {
    if (const auto timeout = parseGrpcTimeout(value)) deadline_.capAt(coarseNanos() + *timeout);
  }
  text_->fields.append(name).append(": ").append(value).append("\r\n");
  return 0;
}

template <class Net, class Client>
void Http2Stream<Net, Client>::onHeadEnd(bool endStream) noexcept {
  headComplete_ = true;
  endStream_ = endStream;
  request_.start = monotonicNanos();
}

template <class Net, class Client>
void Http2Stream<Net, Client>::onData(const std::uint8_t* data, std::size_t length) {
  if (abandoned_ || closed_) {
    consume(length);
    return;
  }
  text_->pending.append(reinterpret_cast<const char*>(data), length);
  wake_.notify();
}

template <class Net, class Client>
void Http2Stream<Net, Client>::onEndStream() noexcept {
  endStream_ = true;
  wake_.notify();
}

template <class Net, class Client>
void Http2Stream<Net, Client>::onClose() noexcept {
  if (closed_) return;
  closed_ = true;
  // What the exchange never took still counts against the connection's window.
  if (!text_->pending.empty()) consume(text_->pending.size());
  text_->pending.clear();
  wake_.notify();
}

template <class Net, class Client>
void Http2Stream<Net, Client>::onResponseEnded() noexcept {
  relay_ = Relay::Done;
  // The answer is complete; a client still sending is told to stop (RFC 9113 §8.1).
  if (!endStream_ && !closed_) nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_NO_ERROR);
}

template <class Net, class Client>
void Http2Stream<Net, Client>::consume(std::size_t n) noexcept {
  if (n == 0) return;
  nghttp2_session_consume(connection_.session(), id_, n);
  connection_.wakeWriter();
}

template <class Net, class Client>
void Http2Stream<Net, Client>::expire() noexcept {
  if (deadline_.expireStream()) wake_.notify();
}

template <class Net, class Client>
HttpError Http2Stream<Net, Client>::buildHead() noexcept {
  if (tooLarge_) return {431, "request header fields too large"};
  if (text_->method.empty() || (text_->path.empty() && text_->method != "CONNECT")) return {400, "malformed request"};
  auto& worker = connection_.worker();
  in_ = worker.buffers().acquire();
  char* const data = in_->data();
  const std::size_t capacity = in_->capacity();
  const std::size_t limit = std::min(capacity, worker.limits().maxBytes);
  std::size_t at = 0;
  bool fits = true;
  const auto put = [&](std::string_view s) {
    if (!fits || at + s.size() > limit) {
      fits = false;
      return;
    }
    std::memcpy(data + at, s.data(), s.size());
    at += s.size();
  };
  put(text_->method);
  put(" ");
  put(text_->path.empty() ? std::string_view(text_->authority) : std::string_view(text_->path));
  put(" HTTP/1.1\r\n");
  if (!text_->authority.empty()) {
    put("Host: ");
    put(text_->authority);
    put("\r\n");
  }
  put(text_->fields);
  if (!text_->cookies.empty()) {
    put("Cookie: ");
    put(text_->cookies);
    put("\r\n");
  }
  // A body that is whole already goes with a Content-Length; one still
  // arriving is chunked, so its trailers can follow it.
  std::array<char, 24> length{};
  if (!hasContentLength_ && endStream_ && !text_->pending.empty()) {
    const auto [end, ec] = std::to_chars(length.data(), length.data() + length.size(), text_->pending.size());
    put("Content-Length: ");
    put({length.data(), static_cast<std::size_t>(end - length.data())});
    put("\r\n");
  } else if (!hasContentLength_ && !endStream_) {
    chunkedRequest_ = true;
    put("Transfer-Encoding: chunked\r\n");
  }
  put("\r\n");
  if (!fits) return {431, "request header fields too large"};
  if (const HttpError error =
          parseRequestHead({data, at}, worker.limits(), {in_->fields(), in_->connectionTokens()}, request_.parsed)) {
    return error;
  }
  // The body that came with the head, if it fits behind it: the request can then be replayed.
  std::size_t bodyLength = 0;
  if (!text_->pending.empty() && !chunkedRequest_ && text_->pending.size() <= capacity - at) {
    std::memcpy(data + at, text_->pending.data(), text_->pending.size());
    bodyLength = text_->pending.size();
    bodyBytes_ += bodyLength;
    consume(bodyLength);
    text_->pending.clear();
  }
  request_.head = {data, at};
  request_.scratch = in_->aux();
  request_.body = {data + at, bodyLength};
  request_.bodyComplete = endStream_ && text_->pending.empty() && !chunkedRequest_;
  request_.keepAlive = true;
  request_.awaitsContinue = false;
  request_.protocol = DownstreamProtocol::H2c;
  request_.secure = connection_.secure();
  // HTTP/2 clients multiplex long-lived calls (gRPC server streaming, event streams): what the member sent goes on at once.
  request_.streamsResponse = true;
  const std::uint64_t maxBody = worker.config().limits.maxBodyBytes;
  if (maxBody != 0 && request_.parsed.framing == BodyFraming::Length && request_.parsed.contentLength > maxBody) {
    return {413, "request body exceeds the limit"};
  }
  return {};
}

template <class Net, class Client>
IncomingRequest* Http2Stream<Net, Client>::bufferedHead() noexcept {
  headError_ = buildHead();
  return headError_ ? nullptr : &request_;
}

template <class Net, class Client>
Task<IncomingRequest*> Http2Stream<Net, Client>::readHead() {
  // bufferedHead() saw the whole head already; only its error is left to answer.
  if (headError_) co_await replyLocal(headError_, false, nullptr);
  co_return nullptr;
}

template <class Net, class Client>
Task<BodyPiece> Http2Stream<Net, Client>::readBody() {
  const auto& config = connection_.worker().config();
  // The same pace as an HTTP/1.1 body (--min-body-rate): a stream that trickles its DATA frames
  // is answered 408 once the time its bytes earned is used up.
  deadline_.set(bodyReadTimeout(config.timeouts.idle, config.limits.minBodyRate, bodyBytes_,
                                std::chrono::nanoseconds(bodyWaitedNanos_)));
  deadline_.waitOnClient();
  error_code ignored;
  const auto waitStart = coarseNanos();
  // Bounded: each wait ends with body bytes, the end of the body, a reset or the deadline.
  while (text_->pending.empty() && !endStream_ && !closed_ && !deadline_.expired()) co_await wake_.wait(ignored);
  bodyWaitedNanos_ += coarseNanos() - waitStart;
  if (deadline_.expired()) co_return BodyPiece{{}, true, {408, "request body not received in time"}};
  if (text_->pending.empty() && !endStream_) co_return BodyPiece{{}, true, {}};  // reset by the client
  const std::size_t n = text_->pending.size();
  bodyBytes_ += n;
  const std::uint64_t maxBody = config.limits.maxBodyBytes;
  if (maxBody != 0 && bodyBytes_ > maxBody) co_return BodyPiece{{}, true, {413, "request body exceeds the limit"}};
  text_->piece.clear();
  if (chunkedRequest_) {
    if (n != 0) {
      std::array<char, 20> size{};
      const auto [end, ec] = std::to_chars(size.data(), size.data() + size.size(), n, 16);
      text_->piece.append(size.data(), end).append("\r\n").append(text_->pending).append("\r\n");
    }
    if (endStream_) text_->piece.append("0\r\n").append(text_->trailers).append("\r\n");
  } else {
    text_->piece.swap(text_->pending);
  }
  text_->pending.clear();
  consume(n);
  request_.bodyComplete = endStream_;
  co_return BodyPiece{{text_->piece.data(), text_->piece.size()}, false, {}};
}

template <class Net, class Client>
void Http2Stream<Net, Client>::abandonBody() noexcept {
  abandoned_ = true;
  if (!text_->pending.empty()) consume(text_->pending.size());
  text_->pending.clear();
}

template <class Net, class Client>
Task<void> Http2Stream<Net, Client>::tunnel(Stream&) {
  // Unreachable: an HTTP/2 request never asks to switch protocols (nghttp2
  // refuses Upgrade and Connection), so the exchange never accepts a 101.
  reset(NGHTTP2_INTERNAL_ERROR);
  co_return;
}

template <class Net, class Client>
std::size_t Http2Stream<Net, Client>::sendNow(const SendBuffers& buffers, error_code& ec) {
  if (clientGone()) {
    ec = asio::error::connection_reset;
    return 0;
  }
  for (const auto& buffer : buffers) {
    if (buffer.size() != 0 && !absorb({static_cast<const char*>(buffer.data()), buffer.size()})) {
      ec = asio::error::invalid_argument;
      reset(NGHTTP2_INTERNAL_ERROR);
      return 0;
    }
  }
  resumeOutput();
  return totalSize(buffers);
}

template <class Net, class Client>
Task<error_code> Http2Stream<Net, Client>::send(SendBuffers buffers) {
  error_code ec;
  sendNow(buffers, ec);
  if (ec) co_return ec;
  deadline_.waitOnClient();
  error_code ignored;
  // Bounded: nghttp2 takes the queue as the client's window allows; a reset or the deadline ends the wait.
  while (queued() > h2detail::kHighWater && !clientGone() && !deadline_.expired()) co_await wake_.wait(ignored);
  if (deadline_.expired()) co_return asio::error::timed_out;
  if (clientGone() && relay_ != Relay::Done) co_return asio::error::connection_reset;
  co_return error_code{};
}

template <class Net, class Client>
bool Http2Stream<Net, Client>::absorb(std::string_view bytes) {
  while (!bytes.empty()) {
    switch (relay_) {
      case Relay::Head: {
        const std::size_t before = text_->head.size();
        text_->head.append(bytes);
        const auto end = text_->head.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
        if (end == std::string::npos) return text_->head.size() <= connection_.worker().limits().maxBytes + 1024;
        const std::size_t headLength = end + 4;
        bytes.remove_prefix(headLength - before);
        text_->head.resize(headLength);
        if (!submitHead()) return false;
        text_->head.clear();
        break;
      }
      case Relay::Body:
        appendBody(bytes);
        return true;
      case Relay::Done:
        return true;  // bytes past the body: not the client's
    }
  }
  return true;
}

template <class Net, class Client>
bool Http2Stream<Net, Client>::submitHead() {
  // The head comes from the exchange's rewrite of a head the parser accepted.
  if (text_->head.size() < 12 || text_->head.compare(0, 5, "HTTP/") != 0) return false;
  const std::string_view statusText(text_->head.data() + 9, 3);
  unsigned status = 0;
  if (std::from_chars(statusText.data(), statusText.data() + 3, status).ec != std::errc() || status < 100) return false;
  // A 101 has no meaning on an HTTP/2 stream (RFC 9113 §8.6): there is nothing to switch.
  if (status == 101) return true;
  std::vector<nghttp2_nv>& headers = connection_.fieldScratch();
  headers.push_back(h2detail::nv(":status", statusText));
  const h2detail::BodyFields body = h2detail::fieldLines(text_->head, text_->head.find("\r\n") + 2, headers);
  if (status < 200) {
    // An interim response (103 Early Hints, a member's 100 Continue) is a HEADERS frame that leaves
    // the stream open; the final response follows it. nghttp2 copies the fields.
    if (nghttp2_submit_headers(connection_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, headers.data(),
                               headers.size(), nullptr) < 0) {
      return false;
    }
    connection_.wakeWriter();
    return true;
  }
  remaining_ = body.length;
  const bool bodiless = request_.parsed.method == Method::Head || status == 204 || status == 304;
  framing_ = bodiless           ? BodyFraming::None
             : body.chunked     ? BodyFraming::Chunked
             : body.lengthKnown ? BodyFraming::Length
                                : BodyFraming::UntilClose;
  if (framing_ == BodyFraming::Length && remaining_ == 0) framing_ = BodyFraming::None;
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                              std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Http2Stream*>(source->ptr)->readData(buffer, length, flags);
  };
  const int submitted = nghttp2_submit_response(connection_.session(), id_, headers.data(), headers.size(),
                                                framing_ == BodyFraming::None ? nullptr : &provider);
  if (submitted != 0) return false;
  submitted_ = true;
  relay_ = framing_ == BodyFraming::None ? Relay::Done : Relay::Body;
  connection_.wakeWriter();
  return true;
}

template <class Net, class Client>
void Http2Stream<Net, Client>::appendBody(std::string_view bytes) {
  switch (framing_) {
    case BodyFraming::Length: {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
      text_->out.append(bytes.substr(0, take));
      remaining_ -= take;
      if (remaining_ == 0) relay_ = Relay::Done;
      break;
    }
    case BodyFraming::Chunked: {
      const std::size_t start = text_->out.size();
      text_->out.append(bytes);
      std::size_t payload = 0;
      const auto step = chunks_.decodeInPlace({text_->out.data() + start, bytes.size()}, payload, text_->responseTrailers);
      text_->out.resize(start + payload);
      if (step.status != ChunkedDecoder::Status::Incomplete) relay_ = Relay::Done;
      break;
    }
    default:
      text_->out.append(bytes);
      break;
  }
  if (outBegin_ > text_->out.size() / 2 && outBegin_ > 4096) {
    text_->out.erase(0, outBegin_);
    outBegin_ = 0;
  }
}

template <class Net, class Client>
void Http2Stream<Net, Client>::resumeOutput() noexcept {
  if (deferred_ && (queued() != 0 || relay_ == Relay::Done)) {
    deferred_ = false;
    nghttp2_session_resume_data(connection_.session(), id_);
  }
  connection_.wakeWriter();
}

template <class Net, class Client>
ssize_t Http2Stream<Net, Client>::readData(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags) noexcept {
  const std::size_t n = std::min(length, queued());
  std::memcpy(buffer, text_->out.data() + outBegin_, n);
  outBegin_ += n;
  if (queued() == 0) {
    text_->out.clear();
    outBegin_ = 0;
    if (relay_ == Relay::Done) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!text_->responseTrailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        submitTrailers();
      }
    } else if (n == 0) {
      deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  if (queued() <= h2detail::kHighWater) wake_.notify();  // a sender waiting for room goes on
  return static_cast<ssize_t>(n);
}

template <class Net, class Client>
void Http2Stream<Net, Client>::submitTrailers() noexcept {
  std::vector<nghttp2_nv>& fields = connection_.fieldScratch();
  h2detail::fieldLines(text_->responseTrailers, 0, fields);
  nghttp2_submit_trailer(connection_.session(), id_, fields.data(), fields.size());
}

template <class Net, class Client>
void Http2Stream<Net, Client>::reset(std::uint32_t errorCode) noexcept {
  if (closed_) return;
  nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_, errorCode);
  connection_.wakeWriter();
}

template <class Net, class Client>
void Http2Stream<Net, Client>::finishResponse() noexcept {
  if (closed_) return;
  if (!submitted_) {
    reset(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (relay_ != Relay::Done) {
    if (grpc_) {
      // A call cut short by its member (killed mid-stream) ends UNAVAILABLE,
      // after the messages already relayed, as a gRPC client expects.
      text_->responseTrailers = "grpc-status: 14\r\ngrpc-message: the member failed during the call\r\n";
    } else if (framing_ != BodyFraming::UntilClose) {
      reset(NGHTTP2_INTERNAL_ERROR);  // cut short: the client must not take it for the whole response
      return;
    }
    relay_ = Relay::Done;  // for UntilClose framing, the member's close ended the body
  }
  resumeOutput();
}

template <class Net, class Client>
Task<bool> Http2Stream<Net, Client>::replyLocal(HttpError error, bool, MemberStats* stats) {
  auto& worker = connection_.worker();
  const auto start = request_.start != 0 ? request_.start : monotonicNanos();
  (stats != nullptr ? *stats : worker.localStats())
      .countResponse(error.status, monotonicNanos() - start, DownstreamProtocol::H2c);
  if (worker.config().log.access) {
    logAccess(AccessRecord{clientIp(), text_->method, text_->path, error.status,
                           stats != nullptr ? std::string_view(stats->id) : "none", monotonicNanos() - start,
                           error.reason});
  }
  if (closed_) co_return false;
  if (submitted_) {
    reset(NGHTTP2_INTERNAL_ERROR);
    co_return false;
  }
  std::array<char, 4> status{};
  std::to_chars(status.data(), status.data() + 3, error.status);
  std::vector<nghttp2_nv> headers;
  headers.push_back(h2detail::nv(":status", {status.data(), 3}));
  std::string grpcStatus;
  std::string grpcMessage;
  std::array<char, 24> length{};
  if (grpc_) {
    // A Trailers-Only response: gRPC clients read the status from it, not from :status.
    headers[0] = h2detail::nv(":status", "200");
    grpcStatus = std::to_string(static_cast<unsigned>(grpcStatusForHttp(error.status)));
    appendGrpcMessage(error.reason, grpcMessage);
    headers.push_back(h2detail::nv("content-type", "application/grpc"));
    headers.push_back(h2detail::nv("grpc-status", grpcStatus));
    headers.push_back(h2detail::nv("grpc-message", grpcMessage));
    framing_ = BodyFraming::None;
  } else {
    const auto [end, ec] = std::to_chars(length.data(), length.data() + length.size(), error.reason.size() + 1);
    headers.push_back(h2detail::nv("content-type", "text/plain; charset=utf-8"));
    headers.push_back(h2detail::nv("content-length", {length.data(), static_cast<std::size_t>(end - length.data())}));
    headers.push_back(h2detail::nv("cache-control", "no-store"));
    const bool bodiless = text_->method == "HEAD";
    framing_ = bodiless ? BodyFraming::None : BodyFraming::Length;
    if (!bodiless) text_->out.append(error.reason).append("\n");
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t size,
                              std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Http2Stream*>(source->ptr)->readData(buffer, size, flags);
  };
  relay_ = Relay::Done;
  const int submitted = nghttp2_submit_response(connection_.session(), id_, headers.data(), headers.size(),
                                                framing_ == BodyFraming::None ? nullptr : &provider);
  submitted_ = submitted == 0;
  connection_.wakeWriter();
  co_return submitted_;
}

}  // namespace ringlb::proxy
