#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "ringlb/base/result.h"
#include "ringlb/proxy/config.h"

namespace ringlb::proxy {

/// Which application protocols the TLS listener offers by ALPN.
enum class TlsAlpn : std::uint8_t { Http1Only, H2AndHttp1 };

/// One immutable set of server TLS contexts, built from the certificate files
/// in one go and never changed afterwards: a reload builds a new set. TLS 1.2
/// and 1.3 only, Mozilla's "intermediate" TLS 1.2 ciphers (forward secret
/// AEADs), session resumption by tickets and a server-side session cache.
///
/// SNI: a handshake starts on the default (first) certificate's context, and
/// the server-name callback switches to the certificate whose DNS names (its
/// subjectAltNames, or its CN when it has none) match the name exactly or by a
/// one-label wildcard (`*.example.com`); no match keeps the default. Sessions
/// and tickets belong to the default context, so resumption works across SNI
/// names. ALPN: `h2` when offered (and enabled), else `http/1.1`; a client
/// offering neither gets no ALPN answer and is served by the listener's
/// protocol detection.
///
/// Thread-safe once built: handshakes on any worker use it concurrently
/// (OpenSSL's SSL_CTX is safe for that). A connection keeps its set alive
/// (shared_ptr) for as long as it lives, so a reload never touches it.
class TlsContextSet {
 public:
  /// Reads and checks every file: each chain must parse and each key must
  /// match its certificate. Errors name the file and OpenSSL's reason, e.g.
  /// "tls.key: private key does not match the certificate in tls.crt".
  static Result<std::shared_ptr<const TlsContextSet>> load(const std::vector<TlsCertificateFiles>& files, TlsAlpn alpn);

  ~TlsContextSet();
  TlsContextSet(const TlsContextSet&) = delete;
  TlsContextSet& operator=(const TlsContextSet&) = delete;

  /// The context handshakes start on (the first certificate's).
  boost::asio::ssl::context& initial() const noexcept { return *entries_.front().context; }
  /// The context serving `serverName` (SNI), the default one when no certificate names it.
  SSL_CTX* select(std::string_view serverName) const noexcept;
  /// The DNS names each certificate serves, in the files' order (for logs and tests).
  std::vector<std::vector<std::string>> names() const;

 private:
  struct Entry {
    std::unique_ptr<boost::asio::ssl::context> context;
    std::vector<std::string> names;  // lower case; "*.example.com" for wildcards
  };
  TlsContextSet(TlsAlpn alpn) : alpn_(alpn) {}
  Status add(const TlsCertificateFiles& files);
  static int onServerName(SSL* ssl, int* alert, void* self);
  static int onAlpn(SSL* ssl, const unsigned char** out, unsigned char* outLength, const unsigned char* in,
                    unsigned int inLength, void* self);

  TlsAlpn alpn_;
  std::vector<Entry> entries_;
};

}  // namespace ringlb::proxy
