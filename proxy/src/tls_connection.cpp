#include "tls_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>

#include "proxy_metrics.h"
#include "session.h"
#include "wakeup.h"
#include "worker_state.h"

namespace ringlb::proxy {

extern template class Session<TcpNet>;

namespace {

using LocalSocket = asio::basic_stream_socket<asio::local::stream_protocol, Executor>;
using TlsStream = asio::ssl::stream<TcpSocket>;

// One TLS record's plaintext at most.
constexpr std::size_t kChunkBytes = 16 * 1024;
// How long the client gets to answer our close_notify before the TCP close.
constexpr std::chrono::seconds kCloseNotifyGrace{1};

/// The state both directions share; owned jointly by the two coroutines, so
/// either may outlive the other (also when the worker's io_context is torn down).
struct TlsBridge {
  TlsBridge(asio::io_context& ioc, TcpSocket socket, std::shared_ptr<const TlsContextSet> set)
      : contexts(std::move(set)), tls(std::move(socket), contexts->initial()), inner(ioc), readerEnded(ioc) {}

  std::shared_ptr<const TlsContextSet> contexts;
  TlsStream tls;
  LocalSocket inner;  // our end of the pair; the session holds the other
  Wakeup readerEnded;
  bool readerDone = false;
  std::array<char, kChunkBytes> fromClient;
  std::array<char, kChunkBytes> toClient;
};

// Cancels the pending operation of `socket` when `timer` fires first.
template <class Socket>
void armTimeout(SteadyTimer& timer, std::chrono::steady_clock::duration after, std::shared_ptr<TlsBridge> bridge,
                Socket& socket) {
  timer.expires_after(after);
  timer.async_wait([bridge = std::move(bridge), &socket](error_code ec) {
    if (ec) return;
    error_code ignored;
    socket.cancel(ignored);
  });
}

// Client -> session. The client's end (close_notify, EOF or a failure) becomes
// the session's end of stream.
Task<void> carryFromClient(std::shared_ptr<TlsBridge> bridge) {
  for (;;) {
    error_code ec;
    const auto n = co_await bridge->tls.async_read_some(asio::buffer(bridge->fromClient), noThrow(ec));
    if (ec) break;
    co_await asio::async_write(bridge->inner, asio::buffer(bridge->fromClient.data(), n), noThrow(ec));
    if (ec) break;
  }
  error_code ignored;
  bridge->inner.shutdown(asio::socket_base::shutdown_send, ignored);
  bridge->readerDone = true;
  bridge->readerEnded.notify();
}

// Session -> client; when the session closed, ends the TLS connection.
Task<void> carryToClient(std::shared_ptr<TlsBridge> bridge) {
  bool clientGone = false;
  for (;;) {
    error_code ec;
    const auto n = co_await bridge->inner.async_read_some(asio::buffer(bridge->toClient), noThrow(ec));
    if (ec) break;  // the session closed (EOF, or a reset when it left bytes unread)
    co_await asio::async_write(bridge->tls, asio::buffer(bridge->toClient.data(), n), noThrow(ec));
    if (ec) {
      clientGone = true;
      break;
    }
  }
  auto& socket = bridge->tls.next_layer();
  error_code ignored;
  // The reader must be off the TLS stream before close_notify goes out on it.
  while (!bridge->readerDone) {
    socket.cancel(ignored);
    co_await bridge->readerEnded.wait(ignored);
  }
  if (!clientGone) {
    SteadyTimer grace(bridge->inner.get_executor());
    armTimeout(grace, kCloseNotifyGrace, bridge, socket);
    co_await bridge->tls.async_shutdown(noThrow(ignored));
    grace.cancel();
  }
  socket.close(ignored);
  bridge->inner.close(ignored);
}

Task<void> serve(WorkerState<TcpNet>& worker, std::shared_ptr<TlsBridge> bridge, std::string clientIp,
                 ProxyMetrics& metrics) {
  auto& ioc = worker.ioc();
  error_code ec;
  {
    // A client that never finishes its handshake holds only this, and only for the head timeout.
    SteadyTimer limit(ioc);
    armTimeout(limit, worker.config().timeouts.requestHead, bridge, bridge->tls.next_layer());
    co_await bridge->tls.async_handshake(asio::ssl::stream_base::server, noThrow(ec));
    limit.cancel();
  }
  SSL* ssl = bridge->tls.native_handle();
  if (ec) {
    metrics.countTlsHandshake(TlsHandshake::Failed);
    error_code ignored;
    bridge->tls.next_layer().close(ignored);
    co_return;
  }
  metrics.countTlsHandshake(SSL_session_reused(ssl) == 1 ? TlsHandshake::Resumed : TlsHandshake::Full);

  const unsigned char* alpn = nullptr;
  unsigned int alpnLength = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpnLength);
  const std::string_view chosen(reinterpret_cast<const char*>(alpn), alpnLength);
  // Without ALPN the listener's own detection decides (the h2 preface, or HTTP/1.1).
  const auto protocol = chosen == "h2"         ? ListenerProtocol::H2c
                        : chosen == "http/1.1" ? ListenerProtocol::Http1
                                               : worker.config().listenProtocol;

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) {
    error_code ignored;
    bridge->tls.next_layer().close(ignored);
    co_return;
  }
  TcpSocket sessionEnd(ioc);
  // The session drives the pair's end as it drives a TCP socket: it only
  // reads, writes, waits, peeks, shuts down and closes it, which AF_UNIX
  // stream sockets do alike.
  sessionEnd.assign(asio::ip::tcp::v4(), pair[0], ec);
  if (ec) ::close(pair[0]);
  error_code innerEc;
  bridge->inner.assign(asio::local::stream_protocol(), pair[1], innerEc);
  if (innerEc) ::close(pair[1]);
  if (ec || innerEc) {
    error_code ignored;
    sessionEnd.close(ignored);
    bridge->inner.close(ignored);
    bridge->tls.next_layer().close(ignored);
    co_return;
  }
  auto session = std::make_unique<Session<TcpNet>>(worker, std::move(sessionEnd), clientIp);
  session->speak(protocol);
  session->markSecure();
  Session<TcpNet>::spawn(std::move(session));

  asio::co_spawn(ioc, carryFromClient(bridge), [](std::exception_ptr) {});
  co_await carryToClient(std::move(bridge));
}

}  // namespace

void spawnTlsConnection(WorkerState<TcpNet>& worker, TcpSocket socket, std::string clientIp,
                        std::shared_ptr<const TlsContextSet> contexts, ProxyMetrics& metrics) {
  auto& ioc = worker.ioc();
  auto bridge = std::make_shared<TlsBridge>(ioc, std::move(socket), std::move(contexts));
  asio::co_spawn(ioc, serve(worker, std::move(bridge), std::move(clientIp), metrics), [](std::exception_ptr) {});
}

}  // namespace ringlb::proxy
