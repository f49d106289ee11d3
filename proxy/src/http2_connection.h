#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "asio_types.h"
#include "http2_stream.h"
#include "nghttp2_callbacks.h"
#include "session_fwd.h"
#include "wakeup.h"

namespace ringlb::proxy {

template <class Net>
class WorkerState;

/// An HTTP/2 client connection (h2c with prior knowledge, or h2 by ALPN over
/// TLS: `Client` is the session's client-stream policy), taken over from
/// the Session that saw the preface. nghttp2 does the framing, HPACK and
/// flow control; this class moves bytes between it and the socket (one
/// reader, one writer coroutine) and runs one Exchange per request stream,
/// each routed by its own key, so streams of one connection can land on
/// different members.
///
/// Limits: SETTINGS_MAX_CONCURRENT_STREAMS, and requests still running
/// (including those the client reset) count against it, so a stream past it
/// is refused with REFUSED_STREAM; a header list past --max-header-bytes or
/// --max-headers gets 431; flow-control windows bound what a client sends
/// ahead. nghttp2 closes a connection that resets streams faster than the
/// configured rate (CVE-2023-44487) or floods CONTINUATION frames.
/// Single-threaded: lives on its worker's io_context, inside Session::run.
template <class Net, class Client>
class Http2Connection {
 public:
  using Stream = typename Net::Stream;

  explicit Http2Connection(Session<Net, Client>& session);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  /// Serves the connection until it closes, and until every stream's exchange ended.
  Task<void> run();

  /// Monotonic (coarse) nanoseconds of the earliest deadline: a stream's, an
  /// idle connection's or a stalled write's; 0 for none.
  std::int64_t deadline() const noexcept;
  /// Watchdog: expires the streams whose deadline passed, and closes an idle
  /// or stalled connection.
  void expireDue(std::int64_t nowNanos) noexcept;
  /// Drain: GOAWAY now; the connection closes once its streams ended.
  void drain() noexcept;

  // For the streams.
  WorkerState<Net>& worker() noexcept;
  nghttp2_session* session() noexcept { return h2_; }
  asio::io_context& ioc() noexcept;
  std::string_view clientIp() const noexcept;
  /// The connection came over TLS.
  bool secure() const noexcept;
  /// Frames are waiting to be sent.
  void wakeWriter() noexcept { writerWake_.notify(); }
  /// Text for a new stream: a pooled one, cleared, or a new one.
  std::unique_ptr<Http2StreamText> acquireText();
  /// Takes a finished stream's text back into the pool, unless the pool is
  /// full or the text grew large (an idle connection holds little).
  void releaseText(std::unique_ptr<Http2StreamText> text) noexcept;
  /// An empty name/value list for one submit call; nghttp2 copies what it is
  /// given, so the list (and its capacity) is reused by the next stream.
  std::vector<nghttp2_nv>& fieldScratch() noexcept {
    fieldScratch_.clear();
    return fieldScratch_;
  }

 private:
  bool init();
  Task<void> readLoop();
  Task<void> writeLoop();
  /// Feeds received bytes to nghttp2. Returns false when the connection is to close.
  bool receive(const char* data, std::size_t n) noexcept;
  void startExchange(Http2Stream<Net, Client>& stream);
  void onExchangeEnded(std::int32_t id) noexcept;
  void eraseIfDone(std::int32_t id) noexcept;
  Http2Stream<Net, Client>* find(std::int32_t id) noexcept;

  template <class Side>
  friend nghttp2_session_callbacks* newSessionCallbacks() noexcept;
  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t nameLength,
                      const std::uint8_t* value, std::size_t valueLength, std::uint8_t flags, void* self);
  static int onFrameReceived(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int onFrameSent(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int onDataChunk(nghttp2_session*, std::uint8_t flags, std::int32_t id, const std::uint8_t* data,
                         std::size_t length, void* self);
  static int onStreamClose(nghttp2_session*, std::int32_t id, std::uint32_t errorCode, void* self);

  Session<Net, Client>& session_;
  nghttp2_session* h2_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Http2Stream<Net, Client>>> streams_;
  std::uint32_t running_ = 0;  // exchanges in flight
  Wakeup writerWake_;
  Wakeup endedWake_;  // the writer or an exchange ended
  std::vector<std::uint8_t> out_;
  std::vector<nghttp2_nv> fieldScratch_;
  std::vector<std::unique_ptr<Http2StreamText>> textPool_;
  std::int64_t idleSince_ = 0;   // coarse nanos since no request runs; 0 while one does
  std::int64_t writeSince_ = 0;  // coarse nanos since the pending write began; 0 for none
  bool readerDone_ = false;
  bool writerDone_ = false;
  bool closing_ = false;  // the socket is being closed
};

}  // namespace ringlb::proxy
