#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/base/duration.h"
#include "ringlb/base/logging.h"
#include "ringlb/base/result.h"
#include "ringlb/ring/member.h"
#include "ringlb/ring/ring_spec.h"

namespace ringlb::proxy {

using Millis = std::chrono::milliseconds;

/// host:port as given; the host is resolved when binding or connecting.
struct HostPort {
  std::string host;  // empty means every interface
  std::uint16_t port = 0;

  std::string toString() const;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

/// http://host:port/path, as --ring-url takes it.
struct HttpUrl {
  HostPort endpoint;
  std::string target;  // path (and query) starting with '/'
};

/// What the data listener speaks. Auto (the default, like Envoy's AUTO codec
/// and HAProxy's cleartext binds) serves HTTP/2 to a connection that opens
/// with the HTTP/2 preface (prior knowledge, h2c) and HTTP/1.1 to the rest.
enum class ListenerProtocol : std::uint8_t { Auto, Http1, H2c };

/// A certificate chain and its private key, PEM files read (and re-read when
/// they change) at run time. An empty `key` means the key is in the chain file
/// (HAProxy's combined PEM).
struct TlsCertificateFiles {
  std::string chain;
  std::string key;

  friend bool operator==(const TlsCertificateFiles&, const TlsCertificateFiles&) = default;
};

/// Every setting of the proxy. Defaults are the documented ones; the YAML
/// file (`--config`) mirrors the flags field by field.
struct ProxyConfig {
  HostPort listen{"0.0.0.0", 8080};
  HostPort admin{"127.0.0.1", 9901};
  ListenerProtocol listenProtocol = ListenerProtocol::Auto;
  unsigned threads = 0;  // 0: one per core

  std::vector<ring::Member> backends;  // --backends
  std::optional<HttpUrl> ringUrl;      // --ring-url
  std::string ringFile;                // --ring-file
  std::optional<ring::KeySpec> key;    // --key overrides the ring's hashing.key

  unsigned retries = 2;
  Millis ringWatchTimeout{30'000};  // long-poll timeoutSeconds
  Millis ringBackoffMax{5'000};     // cap of the reconnect backoff

  struct Limits {
    std::size_t maxHeaderBytes = 16 * 1024;
    std::size_t maxHeaders = 100;
    std::uint64_t maxBodyBytes = 0;  // 0: unlimited
    std::uint64_t minBodyRate = 500;  // bytes per second a request body must average after one idle timeout; 0: off
    std::size_t maxConnections = 20'000;
    std::size_t bufferBytes = 32 * 1024;
    // Per worker thread. Below the requests in flight to a member, the surplus connections close
    // after each exchange and reopen for the next: 64 cost 0.2 new connections per request at
    // 1,000 client connections (bench/proxy-vs-peers --connections 1000 --syscalls).
    std::size_t maxIdleUpstreamPerMember = 1024;
  } limits;

  /// HTTP/2 connections from clients (h2c).
  struct Http2 {
    std::uint32_t maxConcurrentStreams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS; requests running past it are refused
    std::uint32_t streamWindow = 64 * 1024;    // initial flow-control window of a stream (request body buffered per stream)
    std::uint32_t connectionWindow = 1 << 20;  // flow-control window of the connection
    std::uint32_t resetBurst = 200;            // client stream resets tolerated at once (rapid reset guard) ...
    std::uint32_t resetRate = 50;              // ... and refilled per second; past them the connection is closed
    std::uint32_t maxContinuations = 8;        // CONTINUATION frames per header block; more close the connection
  } http2;

  struct Timeouts {
    Millis requestHead{10'000};
    Millis idle{60'000};
    Millis upstreamConnect{2'000};
    Millis upstreamResponse{15'000};
    Millis upstreamIdle{30'000};
    Millis tunnel{3'600'000};  // an upgraded (WebSocket) connection with no traffic either way
    Millis drain{15'000};
    Millis initialRing{10'000};  // a ring-following proxy listens for clients once its first ring arrived, or after this
  } timeouts;

  struct PassiveHealth {
    unsigned consecutiveFailures = 5;  // 0 disables ejection
    Millis baseEjection{5'000};
    Millis maxEjection{120'000};
  } passiveHealth;

  /// Hot-key spreading: per worker, a key with at least `share` of recent
  /// requests has them spread over its first `spread` eligible members.
  struct HotKeys {
    double share = 0.0;  // 0: off
    unsigned spread = 4;
  } hotKeys;

  /// The TLS data listener: HTTP/1.1 and HTTP/2 chosen by ALPN, certificates by SNI.
  struct Tls {
    std::optional<HostPort> listen;                  // off unless set
    std::vector<TlsCertificateFiles> certificates;  // the first serves clients without (or with an unknown) SNI
    Millis reloadInterval{1'000};                   // how often the files are checked for a change
  } tls;

  struct Log {
    LogLevel level = LogLevel::Info;
    bool json = false;
    bool access = false;
  } log;
};

/// One setting: its YAML path, its flag and how to apply a textual value.
struct Setting {
  std::string_view path;  // e.g. "timeouts.idle"
  std::string_view flag;  // e.g. "--idle-timeout"
  std::string_view help;
  bool boolean = false;
  std::function<Status(ProxyConfig&, std::string_view)> apply;
};

/// The settings table shared by the CLI and the YAML loader.
const std::vector<Setting>& settings();

/// Loads a YAML config over `base`. Errors name the file and the field,
/// e.g. "proxy.yaml: timeouts.idle: must be a duration like 500ms, 1.5s, 2m or 1h (got 'forever')".
Result<ProxyConfig> loadConfigFile(const std::string& path, ProxyConfig base);

/// Applies the YAML settings in `text` over `base`, as loadConfigFile does for a
/// file's contents; errors start with `origin` (the file name). Pure.
Result<ProxyConfig> parseConfigYaml(std::string_view text, const std::string& origin, ProxyConfig base);

/// Cross-field checks: exactly one ring source, sane limits.
Status validateConfig(const ProxyConfig& config);

Result<std::uint64_t> parseSize(std::string_view text);
Result<HostPort> parseHostPort(std::string_view text);
Result<HttpUrl> parseHttpUrl(std::string_view text);
Result<ring::KeySpec> parseKeySpec(std::string_view text);
/// "CHAIN[:KEY],..." as --tls-cert takes it; a chain without a key holds its key.
Result<std::vector<TlsCertificateFiles>> parseTlsCertificates(std::string_view text);
/// "id=host:port,..." (or bare "host:port", whose id is the address).
Result<std::vector<ring::Member>> parseBackends(std::string_view text);

}  // namespace ringlb::proxy
