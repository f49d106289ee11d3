#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "asio_types.h"
#include "deadline.h"
#include "head_parser.h"
#include "proxy_metrics.h"
#include "send_buffers.h"

namespace ringlb::proxy {

struct MemberStats;

/// A request as the exchange forwards it: an HTTP/1.1 head and the part of
/// the body that arrived with it. Owned by the downstream.
struct IncomingRequest {
  std::span<char> head;         // the head's bytes; the exchange rewrites them in place
  RequestHead parsed;           // its parse; the field index dies with the rewrite
  std::span<char> scratch;      // room for the fields the rewrites add (request, then response)
  std::span<const char> body;   // body bytes that arrived with the head
  std::int64_t start = 0;       // monotonic nanos when the head was complete, for durations
  bool bodyComplete = true;     // the whole body is in `body` (or, once streamed, has been read)
  bool keepAlive = true;        // the client may send another request after this one
  bool awaitsContinue = false;  // the client waits for a "100 Continue" before it sends its body
  DownstreamProtocol protocol = DownstreamProtocol::Http1;  // how it arrived (the metrics' `protocol` label)
  bool streamsResponse = false;  // relay a chunked response as it comes, not once it is whole or fills the buffer
  bool secure = false;           // it came over TLS (X-Forwarded-Proto: https)
};

/// The next piece of a request body, read after its head.
struct BodyPiece {
  std::span<const char> bytes;
  bool failed = false;  // the body ended early: the client failed, sent a bad body or was too slow
  HttpError reply;      // what to answer then (400, 408, 413); status 0 closes without one
};

/// How a request reached the proxy, as the exchange sees it. The HTTP/1.1
/// connection implements it per request; another frontend (an HTTP/2 stream)
/// can drive the same exchange by implementing it too. Single-threaded: the
/// exchange and its downstream live on one worker's io_context.
template <class Net>
class Downstream {
 public:
  using Stream = typename Net::Stream;

  virtual ~Downstream() = default;

  /// The next request when its whole head is already buffered and valid,
  /// framed like readHead() does, without suspending (the common case, a
  /// coroutine frame saved). Returns null when readHead() has to read or answer it.
  virtual IncomingRequest* bufferedHead() noexcept = 0;
  /// Reads the next request head and frames the body bytes that came with it.
  /// Answers a malformed, oversized or late head itself. Returns the request,
  /// or null when the connection is to close.
  virtual Task<IncomingRequest*> readHead() = 0;
  /// Reads the next piece of a body that did not arrive with its head,
  /// reusing the head's memory (the request cannot be replayed afterwards).
  /// Sets `bodyComplete` on the request with the last piece.
  virtual Task<BodyPiece> readBody() = 0;
  /// Sends as much of `buffers` as the client takes without waiting. Returns the bytes sent.
  virtual std::size_t sendNow(const SendBuffers& buffers, error_code& ec) = 0;
  /// Sends all of `buffers`, waiting as needed under the current deadline.
  virtual Task<error_code> send(SendBuffers buffers) = 0;
  /// Answers with a locally generated error, counted for `stats` (null: the
  /// local-reply member). Returns whether the answer was sent.
  virtual Task<bool> replyLocal(HttpError error, bool keepAlive, MemberStats* stats) = 0;
  /// After a 101, carries bytes both ways between the client and `upstream` until the tunnel ends.
  virtual Task<void> tunnel(Stream& upstream) = 0;
  /// The body will not be read to its end: what the client still sends is
  /// drained before the connection closes, so the answer reaches it.
  virtual void abandonBody() noexcept = 0;
  /// The deadline every phase of the exchange runs under.
  virtual Deadline<Net>& deadline() noexcept = 0;
  /// The client's address (X-Forwarded-For, the sourceIP key, logs).
  virtual std::string_view clientIp() const noexcept = 0;
};

}  // namespace ringlb::proxy
