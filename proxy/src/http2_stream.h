#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "asio_types.h"
#include "buffer_pool.h"
#include "chunked_decoder.h"
#include "deadline.h"
#include "downstream.h"
#include "session_fwd.h"
#include "wakeup.h"

namespace ringlb::proxy {


/// The text one HTTP/2 stream assembles: the request as decoded and the
/// response being re-framed. The connection pools them, so a new stream
/// reuses a finished one's capacity rather than allocating its own.
struct Http2StreamText {
  // The request as decoded.
  std::string method, path, authority, fields, cookies, trailers;
  std::string pending;  // body bytes received, not yet taken by the exchange
  std::string piece;    // the piece readBody() handed out last
  // The response.
  std::string head;  // a response head being assembled
  std::string out;   // body bytes for DATA frames
  std::string responseTrailers;

  void clear() noexcept {
    for (std::string* text : {&method, &path, &authority, &fields, &cookies, &trailers, &pending, &piece, &head, &out,
                              &responseTrailers}) {
      text->clear();
    }
  }
  /// Bytes held, used or not.
  std::size_t capacity() const noexcept {
    return method.capacity() + path.capacity() + authority.capacity() + fields.capacity() + cookies.capacity() +
           trailers.capacity() + pending.capacity() + piece.capacity() + head.capacity() + out.capacity() +
           responseTrailers.capacity();
  }
};

/// One HTTP/2 request stream as an exchange's downstream. The stream turns
/// what nghttp2 decoded into the HTTP/1.1 request the exchange forwards (a
/// head with Host from :authority, cookies joined, and a Content-Length or
/// chunked framing), hands the request body over as DATA arrives (granting
/// the client flow-control window only as the exchange takes it), and turns
/// the HTTP/1.1 response the exchange relays back into HEADERS, DATA and
/// trailers (a chunked body's trailer section becomes the trailing HEADERS,
/// which is how gRPC's status reaches the client). Answers the proxy makes
/// itself to a gRPC request are Trailers-Only responses with grpc-status
/// and grpc-message. grpc-timeout caps every phase's deadline.
///
/// Owned by its connection, which erases it once nghttp2 closed it and its
/// exchange (if one started) ended. Single-threaded.
template <class Net, class Client>
class Http2Stream final : public Downstream<Net> {
 public:
  using Stream = typename Net::Stream;

  Http2Stream(Http2Connection<Net, Client>& connection, std::int32_t id);
  ~Http2Stream() override;
  Http2Stream(const Http2Stream&) = delete;
  Http2Stream& operator=(const Http2Stream&) = delete;

  // Downstream
  IncomingRequest* bufferedHead() noexcept override;
  Task<IncomingRequest*> readHead() override;
  Task<BodyPiece> readBody() override;
  std::size_t sendNow(const SendBuffers& buffers, error_code& ec) override;
  Task<error_code> send(SendBuffers buffers) override;
  Task<bool> replyLocal(HttpError error, bool keepAlive, MemberStats* stats) override;
  Task<void> tunnel(Stream& upstream) override;
  void abandonBody() noexcept override;
  Deadline<Net>& deadline() noexcept override { return deadline_; }
  std::string_view clientIp() const noexcept override;

  /// nghttp2 decoded one field of the request's head or trailers. Returns 0,
  /// or an nghttp2 error that resets the stream.
  int onHeader(std::string_view name, std::string_view value);
  /// The request's head is complete; `endStream`: it has no body.
  void onHeadEnd(bool endStream) noexcept;
  /// The client's trailers begin (a second HEADERS frame).
  void onTrailersBegin() noexcept { inTrailers_ = true; }
  /// Request body bytes arrived.
  void onData(const std::uint8_t* data, std::size_t length);
  /// The client ended its side of the stream.
  void onEndStream() noexcept;
  /// nghttp2 closed the stream (reset by either side, or both sides ended).
  void onClose() noexcept;
  /// A frame ending our side of the stream left; `clientOpen`: the client
  /// had not ended its side, so it is told to stop sending (RFC 9113 §8.1).
  void onResponseEnded() noexcept;
  /// nghttp2's data source: copies up to `length` response body bytes.
  ssize_t readData(std::uint8_t* buffer, std::size_t length, std::uint32_t* flags) noexcept;
  /// After the exchange ended: ends a response cut short, or one delimited by the member's close.
  void finishResponse() noexcept;
  /// Watchdog: the stream's deadline passed.
  void expire() noexcept;

  std::int32_t id() const noexcept { return id_; }
  bool closed() const noexcept { return closed_; }
  bool headComplete() const noexcept { return headComplete_; }
  bool running = false;  // an exchange serves the stream

 private:
  enum class Relay : std::uint8_t { Head, Body, Done };

  /// Builds the HTTP/1.1 head in the buffer and parses it. Returns the error to answer, if any.
  HttpError buildHead() noexcept;
  /// Feeds relayed response bytes. Returns false when they cannot be translated.
  bool absorb(std::string_view bytes);
  /// The response head is in head_: submits HEADERS (a 1xx as an interim block). Returns false if malformed.
  bool submitHead();
  void appendBody(std::string_view bytes);
  void submitTrailers() noexcept;
  /// Gives the client back `n` bytes of flow-control window.
  void consume(std::size_t n) noexcept;
  void resumeOutput() noexcept;
  void reset(std::uint32_t errorCode) noexcept;
  std::size_t queued() const noexcept { return text_->out.size() - outBegin_; }
  bool clientGone() const noexcept { return closed_; }

  Http2Connection<Net, Client>& connection_;
  const std::int32_t id_;
  Deadline<Net> deadline_;
  Wakeup wake_;  // the exchange waits here for body bytes or output room

  std::unique_ptr<Http2StreamText> text_;  // from the connection's pool, returned when the stream ends
  // The request as decoded.
  std::size_t headerBytes_ = 0;
  std::uint32_t headerCount_ = 0;
  bool tooLarge_ = false;
  bool hasContentLength_ = false;
  bool grpc_ = false;
  bool inTrailers_ = false;
  bool headComplete_ = false;
  bool endStream_ = false;  // the client ended its side
  bool closed_ = false;     // nghttp2 closed the stream
  bool chunkedRequest_ = false;
  bool abandoned_ = false;  // the exchange will read no more body
  HttpError headError_;

  // The request as the exchange sees it.
  std::unique_ptr<IoBuffer> in_;
  IncomingRequest request_;
  std::uint64_t bodyBytes_ = 0;
  std::int64_t bodyWaitedNanos_ = 0;  // time readBody() spent waiting on the client (--min-body-rate)

  // The response.
  Relay relay_ = Relay::Head;
  std::size_t outBegin_ = 0;  // text_->out is sent up to here
  ChunkedDecoder chunks_;
  BodyFraming framing_ = BodyFraming::None;
  std::uint64_t remaining_ = 0;
  bool submitted_ = false;  // the response's HEADERS were submitted
  bool deferred_ = false;   // nghttp2 waits for body bytes (NGHTTP2_ERR_DEFERRED)
};

}  // namespace ringlb::proxy
