#include "ringlb/proxy/config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace ringlb::proxy {

namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

Result<std::uint64_t> parseUnsigned(std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Error{"must be a non-negative integer (got " + quoted(text) + ")"};
  }
  if (value < min || value > max) {
    return Error{"must be between " + std::to_string(min) + " and " + std::to_string(max) + " (got " + quoted(text) + ")"};
  }
  return value;
}

Result<bool> parseBool(std::string_view text) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return false;
  return Error{"must be true or false (got " + quoted(text) + ")"};
}

template <class Get>
Setting unsignedSetting(std::string_view path, std::string_view flag, std::string_view help, std::uint64_t min,
                        std::uint64_t max, Get get) {
  return {path, flag, help, false, [=](ProxyConfig& config, std::string_view text) -> Status {
            auto value = parseUnsigned(text, min, max);
            if (!value) return Error{value.error()};
            get(config) = static_cast<std::remove_reference_t<decltype(get(config))>>(value.value());
            return ok();
          }};
}

// A setting read by `parse` (a Result-returning parser) into the field `get` names.
template <class Parse, class Get>
Setting parsedSetting(std::string_view path, std::string_view flag, std::string_view help, Parse parse, Get get) {
  return {path, flag, help, false, [=](ProxyConfig& config, std::string_view text) -> Status {
            auto value = parse(text);
            if (!value) return Error{value.error()};
            get(config) = std::move(value).value();
            return ok();
          }};
}

template <class Apply>
Setting custom(std::string_view path, std::string_view flag, std::string_view help, Apply apply) {
  return {path, flag, help, false, apply};
}

template <class Get>
Setting durationSetting(std::string_view path, std::string_view flag, std::string_view help, Get get) {
  return {path, flag, help, false, [=](ProxyConfig& config, std::string_view text) -> Status {
            auto value = parseDuration(text);
            if (!value) return Error{value.error()};
            if (value.value().count() <= 0) return Error{"must be positive (got " + quoted(text) + ")"};
            get(config) = value.value();
            return ok();
          }};
}

template <class Get>
Setting sizeSetting(std::string_view path, std::string_view flag, std::string_view help, std::uint64_t min,
                    std::uint64_t max, Get get) {
  return {path, flag, help, false, [=](ProxyConfig& config, std::string_view text) -> Status {
            auto value = parseSize(text);
            if (!value) return Error{value.error()};
            if (value.value() < min || value.value() > max) {
              return Error{"must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes (got " +
                           quoted(text) + ")"};
            }
            get(config) = static_cast<std::remove_reference_t<decltype(get(config))>>(value.value());
            return ok();
          }};
}

template <class Get>
Setting boolSetting(std::string_view path, std::string_view flag, std::string_view help, Get get) {
  return {path, flag, help, true, [=](ProxyConfig& config, std::string_view text) -> Status {
            auto value = parseBool(text);
            if (!value) return Error{value.error()};
            get(config) = value.value();
            return ok();
          }};
}

std::vector<Setting> buildSettings() {
  std::vector<Setting> s;
  s.push_back(parsedSetting("listen", "--listen", "data listener ADDR:PORT (default 0.0.0.0:8080)",
                            parseHostPort, [](ProxyConfig& c) -> auto& { return c.listen; }));
  s.push_back(parsedSetting("admin", "--admin",
                            "admin listener ADDR:PORT for /metrics /healthz /readyz /ring /explain (default 127.0.0.1:9901)",
                            parseHostPort, [](ProxyConfig& c) -> auto& { return c.admin; }));
  s.push_back(custom("listenProtocol", "--listen-protocol",
                     "what the data listener speaks: auto (HTTP/2 to connections opening with the h2c preface, "
                     "HTTP/1.1 to the rest; default), http1 or h2c",
                     [](ProxyConfig& c, std::string_view v) -> Status {
                       if (v == "auto") c.listenProtocol = ListenerProtocol::Auto;
                       else if (v == "http1") c.listenProtocol = ListenerProtocol::Http1;
                       else if (v == "h2c") c.listenProtocol = ListenerProtocol::H2c;
                       else return Error{"must be auto, http1 or h2c (got " + quoted(v) + ")"};
                       return ok();
                     }));
  s.push_back(parsedSetting("tls.listen", "--tls-listen",
                            "TLS data listener ADDR:PORT (off by default): HTTP/2 or HTTP/1.1 by ALPN; needs --tls-cert",
                            parseHostPort, [](ProxyConfig& c) -> auto& { return c.tls.listen; }));
  s.push_back(parsedSetting("tls.certificates", "--tls-cert",
                            "certificates of the TLS listener: CHAIN.pem[:KEY.pem],... (a chain without a key holds it); "
                            "SNI picks by the certificates' names, the first is the default; re-read when the files change",
                            parseTlsCertificates, [](ProxyConfig& c) -> auto& { return c.tls.certificates; }));
  s.push_back(durationSetting("tls.reloadInterval", "--tls-reload-interval",
                              "how often the certificate files are checked for a change (default 1s)",
                              [](ProxyConfig& c) -> Millis& { return c.tls.reloadInterval; }));
  s.push_back(unsignedSetting("threads", "--threads", "worker threads, each with its own acceptor (default: one per core)",
                              0, 256, [](ProxyConfig& c) -> auto& { return c.threads; }));
  s.push_back(parsedSetting("backends", "--backends",
                            "static ring: id=host:port,... (id defaults to the address as host-port)",
                            parseBackends, [](ProxyConfig& c) -> auto& { return c.backends; }));
  s.push_back(parsedSetting("ringUrl", "--ring-url",
                            "follow the operator: http://HOST:PORT/v1/rings/NAME (long-poll watch, applied within 50 ms)",
                            parseHttpUrl, [](ProxyConfig& c) -> auto& { return c.ringUrl; }));
  s.push_back(custom("ringFile", "--ring-file", "ring JSON file (wire format), reloaded when it changes",
                     [](ProxyConfig& c, std::string_view v) -> Status {
                       if (v.empty()) return Error{"must not be empty"};
                       c.ringFile = std::string(v);
                       return ok();
                     }));
  s.push_back(parsedSetting("key", "--key",
                            "hash key source, overriding the ring's: path|pathAndQuery|header:NAME|cookie:NAME|query:NAME|sourceIP "
                            "(a missing header/cookie/parameter falls back to the path)",
                            parseKeySpec, [](ProxyConfig& c) -> auto& { return c.key; }));
  s.push_back(unsignedSetting("retries", "--retries",
                              "retries on the next distinct successor for idempotent requests (default 2)", 0, 16,
                              [](ProxyConfig& c) -> auto& { return c.retries; }));
  s.push_back(durationSetting("ringWatchTimeout", "--ring-watch-timeout", "long-poll timeout of the ring watch (default 30s)",
                              [](ProxyConfig& c) -> Millis& { return c.ringWatchTimeout; }));
  s.push_back(durationSetting("ringBackoffMax", "--ring-backoff-max",
                              "cap of the reconnect backoff when the operator is unreachable (default 5s)",
                              [](ProxyConfig& c) -> Millis& { return c.ringBackoffMax; }));
  s.push_back(sizeSetting("limits.maxHeaderBytes", "--max-header-bytes",
                          "largest request or response head; larger requests get 431 (default 16k)", 1024, 1 << 20,
                          [](ProxyConfig& c) -> std::size_t& { return c.limits.maxHeaderBytes; }));
  s.push_back(unsignedSetting("limits.maxHeaders", "--max-headers", "most header fields per head; more gets 431 (default 100)",
                              1, 10'000, [](ProxyConfig& c) -> auto& { return c.limits.maxHeaders; }));
  s.push_back(sizeSetting("limits.maxBodyBytes", "--max-body-bytes", "largest request body; larger gets 413 (default 0: unlimited)",
                          0, ~0ULL, [](ProxyConfig& c) -> std::uint64_t& { return c.limits.maxBodyBytes; }));
  s.push_back(sizeSetting("limits.minBodyRate", "--min-body-rate",
                          "bytes per second a request body must average, after a grace of --idle-timeout, counting only "
                          "time spent waiting on the client; slower gets 408 (slow-body guard, default 500, 0 disables)",
                          0, ~0ULL, [](ProxyConfig& c) -> std::uint64_t& { return c.limits.minBodyRate; }));
  s.push_back(unsignedSetting("limits.maxConnections", "--max-connections",
                              "most open client connections; more are closed at accept and counted (default 20000)", 1, 10'000'000,
                              [](ProxyConfig& c) -> auto& { return c.limits.maxConnections; }));
  s.push_back(sizeSetting("limits.bufferBytes", "--buffer-bytes",
                          "I/O buffer per active request and direction (default 32k); idle connections hold none",
                          4096, 16 << 20, [](ProxyConfig& c) -> std::size_t& { return c.limits.bufferBytes; }));
  s.push_back(unsignedSetting("limits.maxIdleUpstreamPerMember", "--upstream-max-idle",
                              "idle keep-alive upstream connections kept per member and thread (default 1024)", 0, 100'000,
                              [](ProxyConfig& c) -> auto& { return c.limits.maxIdleUpstreamPerMember; }));
  s.push_back(unsignedSetting("http2.maxConcurrentStreams", "--h2-max-concurrent-streams",
                              "HTTP/2 streams a client may open at once per connection; requests still running past it are "
                              "refused with REFUSED_STREAM (default 100)", 1, 100'000,
                              [](ProxyConfig& c) -> auto& { return c.http2.maxConcurrentStreams; }));
  s.push_back(sizeSetting("http2.streamWindow", "--h2-stream-window",
                          "HTTP/2 initial flow-control window per stream: request body bytes a client may send ahead "
                          "(default 64k)",
                          1024, (1U << 31) - 1, [](ProxyConfig& c) -> std::uint32_t& { return c.http2.streamWindow; }));
  s.push_back(sizeSetting("http2.connectionWindow", "--h2-connection-window",
                          "HTTP/2 flow-control window per connection (default 1m)", 65535, (1U << 31) - 1,
                          [](ProxyConfig& c) -> std::uint32_t& { return c.http2.connectionWindow; }));
  s.push_back(unsignedSetting("http2.resetBurst", "--h2-reset-burst",
                              "HTTP/2 stream resets a client may send at once before the connection is closed (rapid reset "
                              "guard, default 200)", 1, 1'000'000,
                              [](ProxyConfig& c) -> auto& { return c.http2.resetBurst; }));
  s.push_back(unsignedSetting("http2.resetRate", "--h2-reset-rate",
                              "HTTP/2 stream resets per second a client may keep sending (default 50)", 1, 1'000'000,
                              [](ProxyConfig& c) -> auto& { return c.http2.resetRate; }));
  s.push_back(unsignedSetting("http2.maxContinuations", "--h2-max-continuations",
                              "CONTINUATION frames allowed in one HTTP/2 header block; more close the connection "
                              "(CONTINUATION flood guard, default 8)", 0, 1000,
                              [](ProxyConfig& c) -> auto& { return c.http2.maxContinuations; }));
  s.push_back(durationSetting("timeouts.requestHead", "--head-timeout",
                              "time to receive a whole request head once it started (slowloris guard, default 10s)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.requestHead; }));
  s.push_back(durationSetting("timeouts.idle", "--idle-timeout",
                              "idle keep-alive client connections, and request bodies or response writes to the client "
                              "that make no progress, are closed after this (default 60s)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.idle; }));
  s.push_back(durationSetting("timeouts.upstreamConnect", "--connect-timeout", "upstream connect timeout (default 2s)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.upstreamConnect; }));
  s.push_back(durationSetting("timeouts.upstreamResponse", "--upstream-timeout",
                              "time for the upstream to start responding after the request was sent; then 504 (default 15s)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.upstreamResponse; }));
  s.push_back(durationSetting("timeouts.upstreamIdle", "--upstream-idle-timeout",
                              "pooled upstream connections idle this long are closed (default 30s)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.upstreamIdle; }));
  s.push_back(durationSetting("timeouts.tunnel", "--tunnel-timeout",
                              "an upgraded (WebSocket) connection with no traffic either way is closed after this (default 1h)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.tunnel; }));
  s.push_back(durationSetting("timeouts.drain", "--drain-timeout",
                              "on SIGTERM, time allowed for in-flight requests before exiting (default 15s)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.drain; }));
  s.push_back(durationSetting("timeouts.initialRing", "--initial-ring-wait",
                              "with --ring-url or --ring-file, the data port listens once the first ring arrived, or after "
                              "this (then 503 until one does; default 10s, 0: at once)",
                              [](ProxyConfig& c) -> Millis& { return c.timeouts.initialRing; }));
  s.push_back(unsignedSetting("passiveHealth.consecutiveFailures", "--eject-after",
                              "consecutive connect failures or 5xx that eject a member locally (default 5, 0 disables)", 0, 1000,
                              [](ProxyConfig& c) -> auto& { return c.passiveHealth.consecutiveFailures; }));
  s.push_back(custom("hotKeys.share", "--hot-key-share",
                     "spread a key with at least this share of a worker's recent requests over its first "
                     "--hot-key-spread members, while it stays that hot (e.g. 0.01; default 0: off)",
                     [](ProxyConfig& c, std::string_view v) -> Status {
                       double share = 0;
                       const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), share);
                       if (ec != std::errc{} || end != v.data() + v.size() || !(share >= 0.0 && share <= 0.5)) {
                         return Error{"must be a number from 0 (off) to 0.5, got " + quoted(v)};
                       }
                       c.hotKeys.share = share;
                       return ok();
                     }));
  s.push_back(unsignedSetting("hotKeys.spread", "--hot-key-spread",
                              "members a hot key's requests are spread over: its owner and the next distinct ones (default 4)", 2, 64,
                              [](ProxyConfig& c) -> auto& { return c.hotKeys.spread; }));
  s.push_back(durationSetting("passiveHealth.baseEjection", "--eject-base",
                              "first ejection time; doubles with each repeat (default 5s)",
                              [](ProxyConfig& c) -> Millis& { return c.passiveHealth.baseEjection; }));
  s.push_back(durationSetting("passiveHealth.maxEjection", "--eject-max", "longest ejection time (default 120s)",
                              [](ProxyConfig& c) -> Millis& { return c.passiveHealth.maxEjection; }));
  s.push_back(custom("log.level", "--log-level", "trace|debug|info|warn|error|critical|off (default info)",
                     [](ProxyConfig& c, std::string_view v) -> Status {
                       auto level = parseLogLevel(v);
                       if (!level) return std::move(level).failure();
                       c.log.level = level.value();
                       return ok();
                     }));
  s.push_back(boolSetting("log.json", "--log-json", "structured JSON logs", [](ProxyConfig& c) -> bool& { return c.log.json; }));
  s.push_back(boolSetting("log.access", "--access-log", "log every request (off by default)",
                          [](ProxyConfig& c) -> bool& { return c.log.access; }));
  return s;
}

// Whether `path` names a group of settings ("timeouts" holds "timeouts.idle").
bool isSettingGroup(std::string_view path) {
  for (const auto& setting : settings()) {
    if (setting.path.size() > path.size() && setting.path.substr(0, path.size()) == path && setting.path[path.size()] == '.') {
      return true;
    }
  }
  return false;
}

bool isSetting(std::string_view path) {
  for (const auto& setting : settings()) {
    if (setting.path == path) return true;
  }
  return false;
}

// Flattens a YAML mapping into dotted paths with scalar (or joined sequence) values.
Status flatten(const YAML::Node& node, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& entry : node) {
    const std::string name = entry.first.Scalar();
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    const YAML::Node& value = entry.second;
    if (value.IsMap()) {
      // Only groups of settings nest; stopping at anything else also ends a mapping that
      // holds itself through an alias ("&x {a: *x}"), which would recurse until the stack overflows.
      if (isSetting(path)) return Error{path + ": must be a value, not a mapping"};
      if (!isSettingGroup(path)) return Error{path + ": unknown field"};
      if (auto status = flatten(value, path, out); !status) return status;
    } else if (value.IsSequence()) {
      std::string joined;
      for (const auto& element : value) {
        if (!element.IsScalar()) return Error{path + ": list elements must be strings"};
        if (!joined.empty()) joined += ",";
        joined += element.Scalar();
      }
      out.emplace_back(path, joined);
    } else if (value.IsScalar()) {
      out.emplace_back(path, value.Scalar());
    } else if (value.IsNull()) {
      return Error{path + ": has no value"};
    }
  }
  return ok();
}

}  // namespace

std::string HostPort::toString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = buildSettings();
  return table;
}

Result<std::uint64_t> parseSize(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string_view unit = text.substr(digits);
  std::uint64_t multiplier = 1;
  if (unit == "k" || unit == "K" || unit == "KiB" || unit == "kB") {
    multiplier = 1024;
  } else if (unit == "m" || unit == "M" || unit == "MiB" || unit == "MB") {
    multiplier = 1024 * 1024;
  } else if (unit == "g" || unit == "G" || unit == "GiB" || unit == "GB") {
    multiplier = 1024ULL * 1024 * 1024;
  } else if (!unit.empty()) {
    return Error{"must be a size like 16384, 16k or 10M (got " + quoted(text) + ")"};
  }
  auto value = parseUnsigned(text.substr(0, digits), 0, ~0ULL / multiplier);
  if (!value) return Error{"must be a size like 16384, 16k or 10M (got " + quoted(text) + ")"};
  return value.value() * multiplier;
}

Result<HostPort> parseHostPort(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error{"must be HOST:PORT (got " + quoted(text) + ")"};
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Error{"must be HOST:PORT (got " + quoted(text) + ")"};
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) return Error{"IPv6 addresses need brackets, [::1]:8080 (got " + quoted(text) + ")"};
  }
  auto number = parseUnsigned(port, 0, 65535);
  if (!number) return Error{"port " + number.error()};
  out.port = static_cast<std::uint16_t>(number.value());
  if (out.host.empty()) out.host = "0.0.0.0";
  return out;
}

Result<HttpUrl> parseHttpUrl(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (text.substr(0, scheme.size()) != scheme) {
    return Error{"must be an http:// URL like http://127.0.0.1:8081/v1/rings/NAME (got " + quoted(text) + ")"};
  }
  auto rest = text.substr(scheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
    return Error{"must include the ring path, like http://127.0.0.1:8081/v1/rings/NAME (got " + quoted(text) + ")"};
  }
  auto endpoint = parseHostPort(rest.substr(0, slash));
  if (!endpoint) return Error{"host: " + endpoint.error()};
  if (endpoint->port == 0) return Error{"port must not be 0 (got " + quoted(text) + ")"};
  HttpUrl url{endpoint.value(), std::string(rest.substr(slash))};
  if (url.target.find_first_of("?# ") != std::string::npos) return Error{"must not carry a query (got " + quoted(text) + ")"};
  return url;
}

Result<ring::KeySpec> parseKeySpec(std::string_view text) {
  ring::KeySpec spec;
  const auto colon = text.find(':');
  const auto source = text.substr(0, colon);
  const auto parsed = ring::parseKeySource(source);
  if (!parsed) {
    return Error{"must be path, pathAndQuery, header:NAME, cookie:NAME, query:NAME or sourceIP (got " + quoted(text) + ")"};
  }
  spec.source = *parsed;
  const bool named = spec.source == ring::KeySource::Header || spec.source == ring::KeySource::Cookie ||
                     spec.source == ring::KeySource::Query;
  if (named) {
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
      return Error{std::string(source) + " needs a name, like " + std::string(source) + ":NAME"};
    }
    spec.name = std::string(text.substr(colon + 1));
  } else if (colon != std::string_view::npos) {
    return Error{std::string(source) + " takes no name (got " + quoted(text) + ")"};
  }
  return spec;
}

Result<std::vector<ring::Member>> parseBackends(std::string_view text) {
  std::vector<ring::Member> members;
  std::set<std::string> ids;
  std::size_t index = 0;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (entry.empty()) continue;
    ring::Member member;
    const auto eq = entry.find('=');
    const auto address = eq == std::string_view::npos ? entry : entry.substr(eq + 1);
    member.id = std::string(eq == std::string_view::npos ? entry : entry.substr(0, eq));
    // Without an id the address names the member; ':' is not allowed in ids, so host:port becomes host-port.
    if (eq == std::string_view::npos) std::replace(member.id.begin(), member.id.end(), ':', '-');
    if (member.id.empty()) return Error{"entry " + std::to_string(index) + " " + quoted(entry) + ": empty id"};
    auto hp = parseHostPort(address);
    if (!hp || hp->port == 0) {
      return Error{"entry " + std::to_string(index) + " " + quoted(entry) + ": address must be HOST:PORT with a port"};
    }
    member.address = std::string(address);
    if (!ids.insert(member.id).second) return Error{"entry " + std::to_string(index) + ": duplicate id " + quoted(member.id)};
    members.push_back(std::move(member));
    ++index;
  }
  if (members.empty()) return Error{"must list at least one backend, id=host:port"};
  return members;
}

Result<std::vector<TlsCertificateFiles>> parseTlsCertificates(std::string_view text) {
  std::vector<TlsCertificateFiles> files;
  std::size_t index = 0;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (entry.empty()) continue;
    const auto colon = entry.find(':');
    TlsCertificateFiles pair{std::string(entry.substr(0, colon)),
                             colon == std::string_view::npos ? std::string() : std::string(entry.substr(colon + 1))};
    if (pair.chain.empty() || (colon != std::string_view::npos && pair.key.empty())) {
      return Error{"entry " + std::to_string(index) + " " + quoted(entry) + ": must be CHAIN.pem or CHAIN.pem:KEY.pem"};
    }
    files.push_back(std::move(pair));
    ++index;
  }
  if (files.empty()) return Error{"must list at least one certificate, CHAIN.pem[:KEY.pem]"};
  return files;
}

Result<ProxyConfig> parseConfigYaml(std::string_view text, const std::string& origin, ProxyConfig base) {
  YAML::Node document;
  try {
    document = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Error{origin + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg};
  }
  if (document.IsNull()) return base;
  if (!document.IsMap()) return Error{origin + ": must be a mapping of settings"};
  std::vector<std::pair<std::string, std::string>> values;
  if (auto status = flatten(document, "", values); !status) return Error{origin + ": " + status.error()};
  for (const auto& [field, value] : values) {
    const Setting* setting = nullptr;
    for (const auto& candidate : settings()) {
      if (candidate.path == field) setting = &candidate;
    }
    if (setting == nullptr) return Error{origin + ": " + field + ": unknown field"};
    if (auto status = setting->apply(base, value); !status) return Error{origin + ": " + field + ": " + status.error()};
  }
  return base;
}

Result<ProxyConfig> loadConfigFile(const std::string& path, ProxyConfig base) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Error{path + ": cannot be read"};
  std::stringstream text;
  text << file.rdbuf();  // an empty file sets failbit on `text`; it is simply no settings
  return parseConfigYaml(text.str(), path, std::move(base));
}

Status validateConfig(const ProxyConfig& config) {
  const int sources = (!config.backends.empty() ? 1 : 0) + (config.ringUrl ? 1 : 0) + (!config.ringFile.empty() ? 1 : 0);
  if (sources == 0) return Error{"a ring source is required: one of --backends, --ring-url or --ring-file (backends, ringUrl, ringFile)"};
  if (sources > 1) return Error{"only one ring source may be given: --backends, --ring-url or --ring-file (backends, ringUrl, ringFile)"};
  if (config.tls.listen && config.tls.certificates.empty()) {
    return Error{"tls.listen (--tls-listen) needs certificates: tls.certificates (--tls-cert)"};
  }
  if (!config.tls.listen && !config.tls.certificates.empty()) {
    return Error{"tls.certificates (--tls-cert) are given but no TLS listener: set tls.listen (--tls-listen)"};
  }
  if (config.passiveHealth.maxEjection < config.passiveHealth.baseEjection) {
    return Error{"passiveHealth.maxEjection (--eject-max) must not be below passiveHealth.baseEjection (--eject-base)"};
  }
  return ok();
}

}  // namespace ringlb::proxy
