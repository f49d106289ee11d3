#pragma once

#include <memory>
#include <string>

#include "asio_types.h"
#include "tcp_net.h"
#include "tls_context_set.h"

namespace ringlb::proxy {

template <class Net>
class WorkerState;

/// Serves one accepted TLS client connection on its worker: a Session on
/// the TLS stream itself (Session<TcpNet, TlsClient>), which runs the
/// handshake under the head timeout, speaks what ALPN chose (HTTP/1.1 or
/// h2) with the same code as the plaintext listener, and ends with
/// close_notify (waiting at most a second for the client's). `contexts` is
/// held for the connection's life, so a certificate reload never touches
/// it. Handshakes (full, resumed, failed) are counted in the worker's
/// metrics. Single-threaded: runs on the worker's io_context.
void spawnTlsConnection(WorkerState<TcpNet>& worker, TcpSocket socket, std::string_view clientIp,
                        std::shared_ptr<const TlsContextSet> contexts);

}  // namespace ringlb::proxy
