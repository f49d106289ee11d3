#pragma once

#include <cerrno>
#include <cstddef>
#include <sys/socket.h>
#include <memory>
#include <optional>

#include <boost/asio/ssl/stream.hpp>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "asio_types.h"
#include "ringlb/proxy/config.h"
#include "send_buffers.h"
#include "tcp_net.h"
#include "tls_context_set.h"

namespace ringlb::proxy {

/// A TLS client connection's stream: OpenSSL over the accepted TCP socket.
/// Keeps the context set its handshake started on alive for the
/// connection's life (its SSL_CTXs and the callbacks' state), so a
/// certificate reload never touches a connection.
class TlsClientStream : public asio::ssl::stream<TcpSocket> {
 public:
  TlsClientStream(TcpSocket socket, std::shared_ptr<const TlsContextSet> contexts)
      : asio::ssl::stream<TcpSocket>(std::move(socket), contexts->initial()), contexts_(std::move(contexts)) {}

 private:
  std::shared_ptr<const TlsContextSet> contexts_;
};

/// The client-stream policy of the TLS listener's sessions (Session's
/// `Client`): the same operations as TcpNet's, on the TLS stream. Reads and
/// writes go through OpenSSL; waiting, aborting and closing act on the TCP
/// socket under it. A TLS record can carry more than one read takes, so
/// plaintext (or ciphertext not yet decrypted) can wait above the socket:
/// hasBuffered() says so, and peek() and every readiness wait check it first.
struct TlsClient {
  using Stream = TlsClientStream;
  using Peek = TcpNet::Peek;

  static constexpr bool kCanWaitReadable = true;
  static constexpr bool kTls = true;

  /// Whether a read can make progress without the socket: decrypted bytes
  /// OpenSSL holds, or received records it has not yet decrypted.
  static bool hasBuffered(Stream& stream) noexcept {
    SSL* ssl = stream.native_handle();
    return SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
  }
  static Peek peek(Stream& stream) noexcept {
    if (hasBuffered(stream)) return Peek::Ready;
    char byte = 0;
    const auto n = ::recv(stream.next_layer().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return Peek::Ready;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Peek::WouldBlock;
    return Peek::Closed;
  }
  static TcpSocket& socket(Stream& stream) noexcept { return stream.next_layer(); }
  static void setNonBlocking(Stream& stream) noexcept {
    error_code ignored;
    stream.next_layer().non_blocking(true, ignored);
  }
  /// Aborts pending operations (they complete with operation_aborted). The
  /// connection is closed afterwards: a write cut midway leaves no valid stream.
  static void abort(Stream& stream) noexcept {
    error_code ignored;
    stream.next_layer().cancel(ignored);
  }
  static void close(Stream& stream) noexcept {
    error_code ignored;
    stream.next_layer().close(ignored);
  }

  /// What ALPN chose: Http1 for `http/1.1`, H2c for `h2`, nothing without ALPN.
  static std::optional<ListenerProtocol> negotiatedProtocol(Stream& stream) noexcept;
  /// Whether the handshake resumed a session (ticket or cache).
  static bool resumed(Stream& stream) noexcept { return SSL_session_reused(stream.native_handle()) == 1; }
};

}  // namespace ringlb::proxy
