#pragma once

namespace ringlb::proxy {

// The client-connection templates, declared once with their defaults. `Net`
// is the upstream transport (and the exchange's); `Client` is the policy of
// the client's stream: Net itself for plaintext, TlsClient for the TLS
// listener. Include this rather than declaring them again.
template <class Net, class Client = Net>
class Session;
template <class Net, class Client = Net>
class Http1Request;
template <class Net, class Client = Net>
class Http2Connection;
template <class Net, class Client = Net>
class Http2Stream;

}  // namespace ringlb::proxy
