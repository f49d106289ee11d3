#include "ringlb/proxy/config.h"
#include "ringlb/ring/ring_spec.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace ringlb::proxy {
namespace {

std::string writeTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(Config, ParsesDurationsSizesAndAddresses) {
  EXPECT_EQ(parseDuration("500ms").value(), Millis(500));
  EXPECT_EQ(parseDuration("2s").value(), Millis(2000));
  EXPECT_EQ(parseDuration("1.5").value(), Millis(1500));
  EXPECT_EQ(parseDuration("2m").value(), Millis(120000));
  EXPECT_FALSE(parseDuration("soon"));
  EXPECT_FALSE(parseDuration("5 s"));
  EXPECT_EQ(parseSize("16k").value(), 16384u);
  EXPECT_EQ(parseSize("10M").value(), 10u << 20);
  EXPECT_FALSE(parseSize("ten"));
  EXPECT_EQ(parseHostPort("127.0.0.1:80").value(), (HostPort{"127.0.0.1", 80}));
  EXPECT_EQ(parseHostPort("[::1]:8080").value(), (HostPort{"::1", 8080}));
  EXPECT_EQ(parseHostPort(":9").value(), (HostPort{"0.0.0.0", 9}));
  EXPECT_FALSE(parseHostPort("nohost"));
  EXPECT_FALSE(parseHostPort("h:70000"));
  EXPECT_FALSE(parseHostPort("::1:80"));
}

TEST(Config, ParsesBackendsKeysAndUrls) {
  auto members = parseBackends("a=127.0.0.1:1,b=localhost:2,127.0.0.1:3");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 3u);
  EXPECT_EQ(members.value()[0].id, "a");
  // Without an id the address names the member, as an id the ring accepts (no ':').
  EXPECT_EQ(members.value()[2].id, "127.0.0.1-3");
  ring::RingSpec spec;
  spec.name = "static";
  spec.members = members.value();
  EXPECT_TRUE(ring::validate(spec).ok()) << ring::validate(spec).error();
  EXPECT_NE(parseBackends("a=h:1,a=h:2").error().find("duplicate id 'a'"), std::string::npos);
  EXPECT_NE(parseBackends("a=h").error().find("HOST:PORT"), std::string::npos);
  EXPECT_FALSE(parseBackends(""));

  EXPECT_EQ(parseKeySpec("header:X-User").value().name, "X-User");
  EXPECT_EQ(parseKeySpec("sourceIP").value().source, ring::KeySource::SourceIp);
  EXPECT_FALSE(parseKeySpec("header"));
  EXPECT_FALSE(parseKeySpec("path:x"));
  EXPECT_FALSE(parseKeySpec("body"));

  auto url = parseHttpUrl("http://127.0.0.1:8081/v1/rings/apod");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->endpoint.port, 8081);
  EXPECT_EQ(url->target, "/v1/rings/apod");
  EXPECT_FALSE(parseHttpUrl("https://h:1/v1/rings/a"));
  EXPECT_FALSE(parseHttpUrl("http://h:1"));
}

TEST(Config, LoadsYamlMirroringTheFlags) {
  const auto path = writeTemp("proxy-good.yaml", R"(
listen: 127.0.0.1:8000
threads: 3
backends: [a=127.0.0.1:1, b=127.0.0.1:2]
key: cookie:session
retries: 1
limits: {maxHeaderBytes: 8k, maxHeaders: 50, maxBodyBytes: 1M, minBodyRate: 2k}
timeouts:
  requestHead: 2s
  idle: 30s
passiveHealth: {consecutiveFailures: 3, baseEjection: 1s}
hotKeys: {share: 0.02, spread: 6}
log: {level: debug, json: true}
)");
  auto config = loadConfigFile(path, ProxyConfig{});
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_EQ(config->listen.port, 8000);
  EXPECT_EQ(config->threads, 3u);
  EXPECT_EQ(config->backends.size(), 2u);
  EXPECT_EQ(config->key->name, "session");
  EXPECT_EQ(config->retries, 1u);
  EXPECT_EQ(config->limits.maxHeaderBytes, 8192u);
  EXPECT_EQ(config->limits.maxBodyBytes, 1u << 20);
  EXPECT_EQ(config->limits.minBodyRate, 2048u);
  EXPECT_EQ(config->timeouts.requestHead, Millis(2000));
  EXPECT_EQ(config->passiveHealth.consecutiveFailures, 3u);
  EXPECT_DOUBLE_EQ(config->hotKeys.share, 0.02);
  EXPECT_EQ(config->hotKeys.spread, 6u);
  EXPECT_TRUE(config->log.json);
  EXPECT_TRUE(validateConfig(config.value()).ok());
}

TEST(Config, HotKeySpreadingIsOffByDefaultAndBounded) {
  EXPECT_EQ(ProxyConfig{}.hotKeys.share, 0.0);
  for (const char* bad : {"hotKeys: {share: 0.9}\n", "hotKeys: {share: lots}\n", "hotKeys: {spread: 1}\n"}) {
    const auto path = writeTemp("proxy-hot.yaml", bad);
    const auto config = loadConfigFile(path, ProxyConfig{});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_NE(config.error().find("hotKeys."), std::string::npos) << config.error();
  }
}

TEST(Config, ListenerProtocolAndHttp2Limits) {
  EXPECT_EQ(ProxyConfig{}.listenProtocol, ListenerProtocol::Auto);
  auto config = parseConfigYaml(
      "listenProtocol: h2c\nhttp2: {maxConcurrentStreams: 10, streamWindow: 1m, connectionWindow: 4m, resetBurst: 5, "
      "resetRate: 2, maxContinuations: 3}\n",
      "proxy.yaml", ProxyConfig{});
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_EQ(config->listenProtocol, ListenerProtocol::H2c);
  EXPECT_EQ(config->http2.maxConcurrentStreams, 10u);
  EXPECT_EQ(config->http2.streamWindow, 1u << 20);
  EXPECT_EQ(config->http2.connectionWindow, 4u << 20);
  EXPECT_EQ(config->http2.resetBurst, 5u);
  EXPECT_EQ(config->http2.resetRate, 2u);
  EXPECT_EQ(config->http2.maxContinuations, 3u);
  config = parseConfigYaml("listenProtocol: h3\n", "proxy.yaml", ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(), "proxy.yaml: listenProtocol: must be auto, http1 or h2c (got 'h3')");
  config = parseConfigYaml("http2: {streamWindow: 4g}\n", "proxy.yaml", ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().find("http2.streamWindow"), std::string::npos) << config.error();
}

TEST(Config, TlsListenerAndCertificates) {
  EXPECT_FALSE(ProxyConfig{}.tls.listen.has_value());
  auto config = parseConfigYaml(
      "tls:\n  listen: 0.0.0.0:8443\n  certificates: [/s/tls.crt:/s/tls.key, /etc/combined.pem]\n  reloadInterval: 250ms\n",
      "proxy.yaml", ProxyConfig{});
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_EQ(config->tls.listen, (HostPort{"0.0.0.0", 8443}));
  EXPECT_EQ(config->tls.certificates,
            (std::vector<TlsCertificateFiles>{{"/s/tls.crt", "/s/tls.key"}, {"/etc/combined.pem", ""}}));
  EXPECT_EQ(config->tls.reloadInterval, Millis(250));

  auto files = parseTlsCertificates("a.crt:");
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.error(), "entry 0 'a.crt:': must be CHAIN.pem or CHAIN.pem:KEY.pem");
  EXPECT_FALSE(parseTlsCertificates(",").ok());

  ProxyConfig listenOnly;
  listenOnly.backends = {ring::Member{"a", "127.0.0.1:1"}};
  listenOnly.tls.listen = HostPort{"127.0.0.1", 8443};
  auto status = validateConfig(listenOnly);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), "tls.listen (--tls-listen) needs certificates: tls.certificates (--tls-cert)");
  ProxyConfig certificatesOnly;
  certificatesOnly.backends = listenOnly.backends;
  certificatesOnly.tls.certificates = {{"a.crt", ""}};
  EXPECT_FALSE(validateConfig(certificatesOnly).ok());
  certificatesOnly.tls.listen = listenOnly.tls.listen;
  EXPECT_TRUE(validateConfig(certificatesOnly).ok());
}

TEST(Config, BadFilesNameTheFileAndTheField) {
  const auto bad = writeTemp("proxy-bad.yaml", "timeouts:\n  idle: forever\n");
  auto config = loadConfigFile(bad, ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().find("proxy-bad.yaml: timeouts.idle:"), std::string::npos) << config.error();

  const auto unknown = writeTemp("proxy-unknown.yaml", "limits:\n  maxHeaderByte: 10\n");
  config = loadConfigFile(unknown, ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().find("limits.maxHeaderByte: unknown field"), std::string::npos) << config.error();

  const auto syntax = writeTemp("proxy-syntax.yaml", "listen: [\n");
  config = loadConfigFile(syntax, ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().find("invalid YAML"), std::string::npos);

  EXPECT_FALSE(loadConfigFile(::testing::TempDir() + "missing.yaml", ProxyConfig{}).ok());

  const auto range = writeTemp("proxy-range.yaml", "retries: 99\n");
  config = loadConfigFile(range, ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().find("retries: must be between 0 and 16"), std::string::npos) << config.error();
}

// Found by tests/fuzz (proxy_config): a mapping holding itself through an alias recursed
// until the stack overflowed, crashing the proxy at startup.
TEST(Config, SelfReferencingAliasIsAnErrorNotACrash) {
  auto config = parseConfigYaml("timeouts: &x {idle: 1s, again: *x}\n", "proxy.yaml", ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(), "proxy.yaml: timeouts.again: unknown field");
  config = parseConfigYaml("&x {b: *x}\n", "proxy.yaml", ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(), "proxy.yaml: b: unknown field");
  config = parseConfigYaml("listen: {host: a}\n", "proxy.yaml", ProxyConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(), "proxy.yaml: listen: must be a value, not a mapping");
}

TEST(Config, EmptyFileKeepsTheDefaults) {
  const auto config = loadConfigFile(writeTemp("proxy-empty.yaml", ""), ProxyConfig{});
  ASSERT_TRUE(config.ok()) << config.error();
  EXPECT_EQ(config->retries, ProxyConfig{}.retries);
}

TEST(Config, RequiresExactlyOneRingSource) {
  ProxyConfig config;
  EXPECT_FALSE(validateConfig(config).ok());
  config.backends = parseBackends("a=h:1").value();
  EXPECT_TRUE(validateConfig(config).ok());
  config.ringFile = "ring.json";
  EXPECT_NE(validateConfig(config).error().find("only one ring source"), std::string::npos);
}

TEST(Config, EverySettingHasAFlagAPathAndHelp) {
  for (const auto& setting : settings()) {
    EXPECT_EQ(setting.flag.substr(0, 2), "--") << setting.path;
    EXPECT_FALSE(setting.help.empty()) << setting.path;
  }
}

}  // namespace
}  // namespace ringlb::proxy
