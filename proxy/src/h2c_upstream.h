#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <nghttp2/nghttp2.h>

#include "asio_types.h"
#include "coarse_clock.h"
#include "nghttp2_callbacks.h"
#include "upstream.h"
#include "wakeup.h"

namespace ringlb::proxy {

/// One HTTP/2 stream to a member, as its attempt sees it: the response as
/// nghttp2 decodes it and the request body waiting to go out. Owned by the
/// attempt; the connection reaches it through nghttp2's stream user data
/// while it is attached. Single-threaded.
struct H2cCall {
  explicit H2cCall(asio::io_context& ioc) : timer(ioc, SteadyTimer::time_point::max()) {}

  std::int32_t id = -1;
  // The response.
  std::uint16_t status = 0;
  std::string fields;    // "name: value\r\n" lines of the final response head
  std::string trailers;  // likewise, of the trailing HEADERS
  std::string body;      // DATA received, not yet relayed
  bool hasContentLength = false;
  bool headComplete = false;  // a final (≥ 200) head arrived
  bool ended = false;         // the member ended its side (END_STREAM)
  bool closed = false;        // the stream is closed, or the connection is gone
  bool sent = false;          // the request's HEADERS left: the member may have seen it
  bool refused = false;       // the member never processed it (REFUSED_STREAM, a GOAWAY below it, never sent)
  std::uint32_t errorCode = 0;  // RST_STREAM's code when closed abnormally
  // The request body.
  std::string upload;              // bytes for DATA frames, from uploadBegin
  std::size_t uploadBegin = 0;
  bool uploadEnded = false;        // the last byte of the body is in `upload`
  bool deferred = false;           // nghttp2 waits for body bytes (NGHTTP2_ERR_DEFERRED)
  SteadyTimer timer;               // the attempt waits here (notify: cancel; expiry: its deadline)

  void notify() noexcept { timer.cancel(); }
  std::size_t uploadQueued() const noexcept { return upload.size() - uploadBegin; }
};

/// An HTTP/2 connection with prior knowledge (h2c) to one member, shared by
/// the attempts of one worker: nghttp2's client session does the framing,
/// HPACK and flow control; this class moves bytes between it and the socket
/// (one reader, one writer coroutine, as Http2Connection does downstream).
/// Streams are multiplexed up to the member's SETTINGS_MAX_CONCURRENT_STREAMS
/// (100 until its SETTINGS say otherwise). The response's flow-control
/// window reopens only as the attempt relays the bytes, so a slow client
/// holds back its member stream, not the proxy's memory.
/// Owned jointly (shared_ptr) by its group's pool, its attempts and its own
/// coroutines. Single-threaded: lives on its worker's io_context.
template <class Net>
class H2cUpstreamConnection : public std::enable_shared_from_this<H2cUpstreamConnection<Net>> {
 public:
  using Stream = typename Net::Stream;

  explicit H2cUpstreamConnection(asio::io_context& ioc)
      : ioc_(ioc), stream_(ioc), ready_(ioc, SteadyTimer::time_point::max()), writerWake_(ioc) {}
  ~H2cUpstreamConnection() {
    if (h2_ != nullptr) nghttp2_session_del(h2_);
  }
  H2cUpstreamConnection(const H2cUpstreamConnection&) = delete;
  H2cUpstreamConnection& operator=(const H2cUpstreamConnection&) = delete;

  /// Connects to the group's member and starts the session: the preface and
  /// SETTINGS go out, and the reader and writer run until the connection
  /// ends. Wakes the attempts waiting in awaitReady(). Returns the failure, if any.
  Task<error_code> connect(Net& net, const UpstreamGroup<Net>& group) {
    error_code ec = co_await net.connect(stream_, group);
    if (!ec && !init()) ec = asio::error::no_memory;
    if (ec) {
      dead_ = true;
      Net::close(stream_);
    } else {
      open_ = true;
      auto self = this->shared_from_this();
      asio::co_spawn(ioc_, self->writeLoop(self), asio::detached);
      asio::co_spawn(ioc_, self->readLoop(self), asio::detached);
    }
    connecting_ = false;
    ready_.cancel();
    if (retired_ && reserved_ == 0) close();
    co_return ec;
  }
  /// Waits until connect() has finished (at once if it has). `ec`: unused.
  auto awaitReady(error_code& ec) { return ready_.async_wait(noThrow(ec)); }
  bool connecting() const noexcept { return connecting_; }
  /// Whether a new stream may start here: connected or connecting, no GOAWAY
  /// received, and below the member's concurrent-stream limit.
  bool hasRoom() const noexcept { return !dead_ && !goaway_ && !closing_ && !retired_ && reserved_ < streamLimit(); }
  bool dead() const noexcept { return dead_; }
  /// The socket, for the deadline that aborts a connect taking too long.
  Stream& socket() noexcept { return stream_; }
  std::uint32_t reserved() const noexcept { return reserved_; }
  std::int64_t idleSince() const noexcept { return idleSince_; }
  /// The stream limit in force: the member's SETTINGS_MAX_CONCURRENT_STREAMS.
  std::uint32_t streamLimit() const noexcept {
    if (h2_ == nullptr || !settingsSeen_) return kAssumedStreamLimit;
    return nghttp2_session_get_remote_settings(h2_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  }

  /// Counts a stream that is about to start here (taken before connect ends,
  /// so concurrent attempts spread over connections), and releases it.
  void reserve() noexcept {
    ++reserved_;
    idleSince_ = 0;
  }
  void release() noexcept {
    if (--reserved_ != 0) return;
    idleSince_ = coarseNanos();
    if (retired_) close();
  }
  /// Takes no new streams and closes once its last one ended (now if it has none):
  /// the member moved to another address, left the ring, or the proxy drains.
  void retire() noexcept {
    retired_ = true;
    if (reserved_ == 0 && !connecting_) close();
  }

  /// Starts `call` as a stream with the request `fields`; with `hasBody`, the
  /// body follows from call.upload. Returns false if nghttp2 refused it.
  bool submit(H2cCall& call, const std::vector<nghttp2_nv>& fields, bool hasBody) {
    if (dead_ || h2_ == nullptr) return false;
    nghttp2_data_provider provider{};
    provider.read_callback = &readBody;
    const auto id = nghttp2_submit_request(h2_, nullptr, fields.data(), fields.size(), hasBody ? &provider : nullptr, &call);
    if (id < 0) return false;
    call.id = id;
    writerWake_.notify();
    return true;
  }
  /// More body bytes (or its end) are in call.upload.
  void resumeUpload(H2cCall& call) noexcept {
    if (call.deferred && !call.closed && h2_ != nullptr) {
      call.deferred = false;
      nghttp2_session_resume_data(h2_, call.id);
      writerWake_.notify();
    }
  }
  /// `n` response bytes of `call` were relayed: the member may send as many more.
  void consumed(const H2cCall& call, std::size_t n) noexcept {
    if (n == 0 || call.closed || h2_ == nullptr || dead_) return;
    nghttp2_session_consume(h2_, call.id, n);
    writerWake_.notify();
  }
  /// The attempt is done with `call`: a stream still open is cancelled (RST_STREAM(CANCEL)).
  void detach(H2cCall& call) noexcept {
    if (call.id < 0 || h2_ == nullptr) return;
    nghttp2_session_set_stream_user_data(h2_, call.id, nullptr);
    if (!call.closed && !dead_) {
      nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, call.id, NGHTTP2_CANCEL);
      writerWake_.notify();
    }
    std::erase(calls_, &call);
    call.id = -1;
  }
  /// Ends the connection: a GOAWAY if it is open, then the close.
  void close() noexcept {
    if (closing_) return;
    closing_ = true;
    if (h2_ != nullptr && open_ && !dead_) nghttp2_session_terminate_session(h2_, NGHTTP2_NO_ERROR);
    writerWake_.notify();
  }

 private:
  // Before a member's SETTINGS arrive; RFC 9113 §6.5.2 recommends no less than 100.
  static constexpr std::uint32_t kAssumedStreamLimit = 100;
  static constexpr std::size_t kReadBuffer = 16 * 1024;
  static constexpr std::size_t kWriteBatch = 64 * 1024;

  bool init() {
    nghttp2_session_callbacks* callbacks = newSessionCallbacks<H2cUpstreamConnection>();
    if (callbacks == nullptr) return false;
    nghttp2_option* option = nullptr;
    if (nghttp2_option_new(&option) != 0) {
      nghttp2_session_callbacks_del(callbacks);
      return false;
    }
    nghttp2_option_set_no_auto_window_update(option, 1);
    const int created = nghttp2_session_client_new2(&h2_, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    if (created != 0) {
      h2_ = nullptr;
      return false;
    }
    // The connection's window is not what holds a slow client back (each
    // stream's is), so it is opened wide once.
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}};
    nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    nghttp2_session_set_local_window_size(h2_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    return true;
  }
  static constexpr std::uint32_t kStreamWindow = 256 * 1024;
  static constexpr std::int32_t kConnectionWindow = 16 * 1024 * 1024;

  Task<void> readLoop([[maybe_unused]] std::shared_ptr<H2cUpstreamConnection> keepAlive) {
    std::vector<std::uint8_t> in(kReadBuffer);
    error_code ec;
    while (!closing_) {
      const auto n = co_await stream_.async_read_some(asio::buffer(in), noThrow(ec));
      if (ec || closing_) break;
      const auto consumed = nghttp2_session_mem_recv(h2_, in.data(), n);
      writerWake_.notify();
      if (consumed < 0) break;
      if (nghttp2_session_want_read(h2_) == 0 && nghttp2_session_want_write(h2_) == 0) break;
    }
    lose();
  }

  Task<void> writeLoop([[maybe_unused]] std::shared_ptr<H2cUpstreamConnection> keepAlive) {
    std::vector<std::uint8_t> out;
    error_code ec;
    while (!dead_) {
      while (!ec && nghttp2_session_want_write(h2_) != 0) {
        out.clear();
        while (out.size() < kWriteBatch) {
          const std::uint8_t* data = nullptr;
          const auto n = nghttp2_session_mem_send(h2_, &data);
          if (n < 0) ec = asio::error::invalid_argument;
          if (n <= 0) break;
          out.insert(out.end(), data, data + n);
        }
        if (out.empty()) break;
        co_await asio::async_write(stream_, asio::buffer(out), noThrow(ec));
      }
      if (ec || (closing_ && nghttp2_session_want_write(h2_) == 0)) break;
      co_await writerWake_.wait(ec);
      ec = {};
    }
    lose();
  }

  /// The connection is gone: every attached stream ends, the reader stops.
  void lose() noexcept {
    if (dead_) return;
    dead_ = true;
    for (H2cCall* call : calls_) {
      // A stream whose HEADERS never left never reached the member.
      if (!call->sent) call->refused = true;
      call->closed = true;
      call->notify();
    }
    calls_.clear();
    Net::close(stream_);
    writerWake_.notify();
  }

  static H2cCall* callOf(nghttp2_session* session, std::int32_t id) noexcept {
    return static_cast<H2cCall*>(nghttp2_session_get_stream_user_data(session, id));
  }
  static H2cUpstreamConnection& self(void* data) noexcept { return *static_cast<H2cUpstreamConnection*>(data); }

  template <class Side>
  friend nghttp2_session_callbacks* newSessionCallbacks() noexcept;
  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*) { return 0; }

  static int onHeader(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t nameLength, const std::uint8_t* value, std::size_t valueLength, std::uint8_t,
                      void*) {
    H2cCall* call = callOf(session, frame->hd.stream_id);
    if (call == nullptr || frame->hd.type != NGHTTP2_HEADERS) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), nameLength);
    const std::string_view v(reinterpret_cast<const char*>(value), valueLength);
    if (call->headComplete) {
      call->trailers.append(n).append(": ").append(v).append("\r\n");
      return 0;
    }
    if (n == ":status") {
      unsigned status = 0;
      for (char c : v) status = status * 10 + static_cast<unsigned>(c - '0');
      call->status = static_cast<std::uint16_t>(status);
      return 0;
    }
    if (n == "content-length") call->hasContentLength = true;
    call->fields.append(n).append(": ").append(v).append("\r\n");
    return 0;
  }

  static int onFrameReceived(nghttp2_session* session, const nghttp2_frame* frame, void* data) {
    H2cUpstreamConnection& connection = self(data);
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) connection.settingsSeen_ = true;
    if (frame->hd.type == NGHTTP2_GOAWAY) connection.goaway_ = true;
    H2cCall* call = frame->hd.stream_id != 0 ? callOf(session, frame->hd.stream_id) : nullptr;
    if (call == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && !call->headComplete) {
      if (call->status >= 200) {
        call->headComplete = true;
      } else {
        call->fields.clear();  // an interim response is not relayed over this path
        call->hasContentLength = false;
      }
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      call->ended = true;
    }
    call->notify();
    return 0;
  }

  static int onFrameSent(nghttp2_session* session, const nghttp2_frame* frame, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (H2cCall* call = callOf(session, frame->hd.stream_id)) call->sent = true;
    return 0;
  }

  static int onDataChunk(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                         std::size_t length, void*) {
    H2cCall* call = callOf(session, id);
    if (call == nullptr) {
      nghttp2_session_consume(session, id, length);  // a cancelled stream's late DATA
      return 0;
    }
    call->body.append(reinterpret_cast<const char*>(data), length);
    call->notify();
    return 0;
  }

  static int onStreamClose(nghttp2_session* session, std::int32_t id, std::uint32_t errorCode, void* data) {
    H2cCall* call = callOf(session, id);
    if (call == nullptr) return 0;
    call->closed = true;
    call->errorCode = errorCode;
    // RFC 9113 §8.7: REFUSED_STREAM, and streams above a GOAWAY's last id
    // (which nghttp2 closes with REFUSED_STREAM), were never processed.
    if (errorCode == NGHTTP2_REFUSED_STREAM) call->refused = true;
    std::erase(self(data).calls_, call);
    call->notify();
    return 0;
  }

  static ssize_t readBody(nghttp2_session* session, std::int32_t id, std::uint8_t* buffer, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source*, void*) {
    H2cCall* call = callOf(session, id);
    if (call == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::size_t n = std::min(length, call->uploadQueued());
    std::copy_n(call->upload.data() + call->uploadBegin, n, buffer);
    call->uploadBegin += n;
    if (call->uploadQueued() == 0) {
      call->upload.clear();
      call->uploadBegin = 0;
      call->notify();  // room for the next piece
      if (call->uploadEnded) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        call->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }

 public:
  /// Attaches `call` so the connection can end it when the connection goes.
  void track(H2cCall& call) { calls_.push_back(&call); }

 private:
  asio::io_context& ioc_;
  Stream stream_;
  nghttp2_session* h2_ = nullptr;
  SteadyTimer ready_;  // cancelled once connect() finished, waking every waiter
  Wakeup writerWake_;
  std::vector<H2cCall*> calls_;  // attached streams not yet closed
  std::uint32_t reserved_ = 0;
  std::int64_t idleSince_ = 0;
  bool connecting_ = true;
  bool open_ = false;
  bool settingsSeen_ = false;
  bool goaway_ = false;
  bool retired_ = false;
  bool closing_ = false;
  bool dead_ = false;
};

/// A connection of `group`'s pool with room for one more stream, reserved
/// for the caller; a new one (not yet connected: the caller connects it)
/// when none has room. Dead connections leave the pool here.
template <class Net>
std::shared_ptr<H2cUpstreamConnection<Net>> reserveH2c(asio::io_context& ioc, UpstreamGroup<Net>& group, bool& isNew) {
  auto& pool = group.h2c;
  std::erase_if(pool, [](const auto& connection) { return connection->dead(); });
  isNew = false;
  for (auto& connection : pool) {
    if (connection->hasRoom()) {
      connection->reserve();
      return connection;
    }
  }
  isNew = true;
  auto connection = std::make_shared<H2cUpstreamConnection<Net>>(ioc);
  connection->reserve();
  pool.push_back(connection);
  return connection;
}

/// Closes `group`'s h2c connections that carried no stream for `idleLimit` nanoseconds at `nowNanos`.
template <class Net>
void closeIdleH2c(UpstreamGroup<Net>& group, std::int64_t nowNanos, std::int64_t idleLimit) noexcept {
  std::erase_if(group.h2c, [&](const auto& connection) {
    if (connection->dead()) return true;
    if (connection->reserved() != 0 || connection->connecting()) return false;
    if (nowNanos - connection->idleSince() < idleLimit) return false;
    connection->close();
    return true;
  });
}

/// Retires every h2c connection of `group` and forgets them: each closes
/// once its streams ended (the member's address changed, it left the ring,
/// or the proxy drains).
template <class Net>
void retireH2c(UpstreamGroup<Net>& group) noexcept {
  for (auto& connection : group.h2c) connection->retire();
  group.h2c.clear();
}

}  // namespace ringlb::proxy
