#include "tls_connection.h"

#include <openssl/ssl.h>

#include "session_impl.h"
#include "tls_client.h"
#include "worker_state.h"

namespace ringlb::proxy {

extern template class WorkerState<TcpNet>;
template class Session<TcpNet, TlsClient>;

std::optional<ListenerProtocol> TlsClient::negotiatedProtocol(Stream& stream) noexcept {
  const unsigned char* alpn = nullptr;
  unsigned int alpnLength = 0;
  SSL_get0_alpn_selected(stream.native_handle(), &alpn, &alpnLength);
  const std::string_view chosen(reinterpret_cast<const char*>(alpn), alpnLength);
  if (chosen == "h2") return ListenerProtocol::H2c;
  if (chosen == "http/1.1") return ListenerProtocol::Http1;
  return std::nullopt;
}

void spawnTlsConnection(WorkerState<TcpNet>& worker, TcpSocket socket, std::string_view clientIp,
                        std::shared_ptr<const TlsContextSet> contexts) {
  using TlsSession = Session<TcpNet, TlsClient>;
  TlsSession::spawn(
      std::make_unique<TlsSession>(worker, TlsClientStream(std::move(socket), std::move(contexts)), clientIp));
}

}  // namespace ringlb::proxy
