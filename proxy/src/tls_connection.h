#pragma once

#include <memory>
#include <string>

#include "asio_types.h"
#include "tcp_net.h"
#include "tls_context_set.h"

namespace ringlb::proxy {

template <class Net>
class WorkerState;
class ProxyMetrics;

/// Serves one accepted TLS client connection on its worker: the handshake
/// (under `handshakeTimeout`), then a Session (the same HTTP/1.1 and HTTP/2
/// code as the plaintext listener, told what ALPN chose) on one end of a
/// socket pair, with this connection carrying bytes between the TLS stream
/// and the pair's other end. The plaintext path has no TLS branch: sessions
/// stay instantiated on TcpNet alone.
///
/// Ends: the client's close (or close_notify) reaches the session as an end
/// of stream; the session's close sends close_notify (then waits at most a
/// second for the client's) and closes the TCP connection. `contexts` is held
/// for the connection's life, so a certificate reload never touches it.
/// Counts handshakes (full, resumed, failed) in `metrics`. Single-threaded:
/// runs on the worker's io_context.
void spawnTlsConnection(WorkerState<TcpNet>& worker, TcpSocket socket, std::string clientIp,
                        std::shared_ptr<const TlsContextSet> contexts, ProxyMetrics& metrics);

}  // namespace ringlb::proxy
