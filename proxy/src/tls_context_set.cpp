#include "tls_context_set.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace ringlb::proxy {

namespace {

// Mozilla's "intermediate" TLS 1.2 list: forward-secret AEAD suites only.
// TLS 1.3 keeps OpenSSL's defaults (all three are AEADs).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Every context of a set shares it, so a session resumes whichever certificate SNI picked.
constexpr unsigned char kSessionIdContext[] = "ringlb-proxy";
constexpr unsigned char kAlpnH2AndHttp1[] = "\x02h2\x08http/1.1";
constexpr unsigned char kAlpnHttp1[] = "\x08http/1.1";

// OpenSSL's queued errors as one line, and the queue emptied (it is per thread).
std::string opensslReason() {
  std::string reason;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    if (!reason.empty()) reason += "; ";
    reason += text;
  }
  return reason.empty() ? "unknown OpenSSL error" : reason;
}

Status readable(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return Error{path + ": cannot be read: " + std::strerror(errno)};
  std::fclose(file);
  return ok();
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// DNS subjectAltNames, or the subject CN when there are none (as clients did before RFC 6125).
std::vector<std::string> dnsNames(X509* certificate) {
  std::vector<std::string> names;
  auto* alternatives = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (alternatives != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alternatives); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(alternatives, i);
      if (name->type != GEN_DNS) continue;
      const auto* text = reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName));
      names.push_back(lower({text, static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName))}));
    }
    GENERAL_NAMES_free(alternatives);
  }
  if (names.empty()) {
    char common[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common, sizeof common) > 0) {
      names.push_back(lower(common));
    }
  }
  return names;
}

bool matches(std::string_view pattern, std::string_view host) {
  if (pattern == host) return true;
  // "*.example.com" covers exactly one label: a.example.com, not example.com nor a.b.example.com.
  if (pattern.size() < 3 || pattern.substr(0, 2) != "*.") return false;
  const auto dot = host.find('.');
  return dot != std::string_view::npos && dot != 0 && host.substr(dot) == pattern.substr(1);
}

}  // namespace

Result<std::shared_ptr<const TlsContextSet>> TlsContextSet::load(const std::vector<TlsCertificateFiles>& files,
                                                                 TlsAlpn alpn) {
  if (files.empty()) return Error{"no certificate files given"};
  std::shared_ptr<TlsContextSet> set(new TlsContextSet(alpn));
  ERR_clear_error();
  for (const auto& pair : files) {
    if (auto status = set->add(pair); !status) return Error{status.error()};
  }
  return std::shared_ptr<const TlsContextSet>(std::move(set));
}

TlsContextSet::~TlsContextSet() = default;

Status TlsContextSet::add(const TlsCertificateFiles& files) {
  const std::string& keyPath = files.key.empty() ? files.chain : files.key;
  if (auto status = readable(files.chain); !status) return status;
  if (auto status = readable(keyPath); !status) return status;

  auto context = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_SINGLE_ECDH_USE);
  // An idle connection gives its record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return Error{"TLS 1.2 cipher list refused: " + opensslReason()};
  // No flush every 255 handshakes: OpenSSL 3.0's walks the whole cache
  // (OPENSSL_LH_doall_arg showed in a profile of full TLS 1.2 handshakes). A
  // full cache evicts its least recently used session on each insert, and an
  // expired one is refused at lookup, so nothing grows without it.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_tlsext_servername_callback(ctx, &TlsContextSet::onServerName);
  SSL_CTX_set_tlsext_servername_arg(ctx, this);
  SSL_CTX_set_alpn_select_cb(ctx, &TlsContextSet::onAlpn, this);

  if (SSL_CTX_use_certificate_chain_file(ctx, files.chain.c_str()) != 1) {
    return Error{files.chain + ": not a usable PEM certificate chain: " + opensslReason()};
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, keyPath.c_str(), SSL_FILETYPE_PEM) != 1) {
    const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    const auto reason = opensslReason();
    if (mismatch) return Error{keyPath + ": private key does not match the certificate in " + files.chain};
    return Error{keyPath + ": not a usable PEM private key: " + reason};
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    opensslReason();
    return Error{keyPath + ": private key does not match the certificate in " + files.chain};
  }
  X509* certificate = SSL_CTX_get0_certificate(ctx);
  if (certificate == nullptr) return Error{files.chain + ": holds no certificate"};
  entries_.push_back({std::move(context), dnsNames(certificate)});
  return ok();
}

SSL_CTX* TlsContextSet::select(std::string_view serverName) const noexcept {
  char host[256];
  const auto n = std::min(serverName.size(), sizeof host);
  for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(serverName[i])));
  const std::string_view name(host, n);
  // Exact names first, so a.example.com beats a *.example.com listed before it.
  for (const auto& entry : entries_) {
    for (const auto& pattern : entry.names) {
      if (pattern == name) return entry.context->native_handle();
    }
  }
  for (const auto& entry : entries_) {
    for (const auto& pattern : entry.names) {
      if (matches(pattern, name)) return entry.context->native_handle();
    }
  }
  return entries_.front().context->native_handle();
}

std::vector<std::vector<std::string>> TlsContextSet::names() const {
  std::vector<std::vector<std::string>> out;
  for (const auto& entry : entries_) out.push_back(entry.names);
  return out;
}

int TlsContextSet::onServerName(SSL* ssl, int* /*alert*/, void* self) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  SSL_CTX* chosen = static_cast<const TlsContextSet*>(self)->select(name);
  if (chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

int TlsContextSet::onAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outLength, const unsigned char* in,
                          unsigned int inLength, void* self) {
  const bool h2 = static_cast<const TlsContextSet*>(self)->alpn_ == TlsAlpn::H2AndHttp1;
  const unsigned char* server = h2 ? kAlpnH2AndHttp1 : kAlpnHttp1;
  const unsigned int serverLength = h2 ? sizeof kAlpnH2AndHttp1 - 1 : sizeof kAlpnHttp1 - 1;
  unsigned char* selected = nullptr;
  // The server's order wins: h2 whenever the client offers it.
  if (SSL_select_next_proto(&selected, outLength, server, serverLength, in, inLength) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace ringlb::proxy
