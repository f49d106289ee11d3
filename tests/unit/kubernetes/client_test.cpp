// KubernetesClient against a local HTTP(S) server on 127.0.0.1: the client-side
// rate limit, 429/503 Retry-After, exec credential plugins and a rotated CA.
// Timing checks are lower bounds or generous ceilings: never a slow-day failure.
#include "local_api_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ringlb/operator/kubernetes_client.h"

namespace ringlb::op {
namespace {

namespace fs = std::filesystem;
using testing::LocalApiServer;
using namespace std::chrono_literals;

class KubernetesClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ringlb-client-unit-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  KubernetesConfig plainConfig(const LocalApiServer& server) const {
    KubernetesConfig config;
    config.tls = false;
    config.host = "127.0.0.1";
    config.port = server.port();
    config.origin = "test";
    return config;
  }

  std::unique_ptr<KubernetesClient> makeClient(KubernetesConfig config, KubernetesClient::Options options) {
    auto client = KubernetesClient::create(std::move(config), options, clock_);
    EXPECT_TRUE(client.ok()) << client.error();
    return client ? std::move(client).value() : nullptr;
  }

  // An executable shell script at dir_/name.
  fs::path script(const std::string& name, const std::string& body) const {
    const fs::path path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }

  // An exec plugin printing a v1 ExecCredential with token "tok-<run count>",
  // valid for `validSeconds`; runs are counted in dir_/runs.
  fs::path countingPlugin(int validSeconds) const {
    return script("plugin.sh", "n=$(cat '" + (dir_ / "runs").string() + "' 2>/dev/null || echo 0); n=$((n+1))\n"
                  "echo $n > '" + (dir_ / "runs").string() + "'\n"
                  "echo \"$KUBERNETES_EXEC_INFO\" > '" + (dir_ / "exec-info").string() + "'\n"
                  "exp=$(date -u -d @$(( $(date +%s) + " + std::to_string(validSeconds) + " )) +%Y-%m-%dT%H:%M:%SZ)\n"
                  "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                  "\"status\":{\"token\":\"tok-%s\",\"expirationTimestamp\":\"%s\"}}' \"$n\" \"$exp\"\n");
  }

  int pluginRuns() const {
    std::ifstream in(dir_ / "runs");
    int runs = 0;
    in >> runs;
    return runs;
  }

  SteadyClock clock_;
  fs::path dir_;
};

// --- rate limit -------------------------------------------------------------

TEST_F(KubernetesClientTest, RequestsBeyondTheBurstWaitForTheSustainedRate) {
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(200); });
  KubernetesClient::Options options;
  options.qps = 20;
  options.burst = 5;
  std::atomic<int> throttled{0};
  options.onThrottled = [&](std::chrono::milliseconds) { ++throttled; };
  auto client = makeClient(plainConfig(server), options);
  ASSERT_TRUE(client);

  constexpr int kRequests = 25;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    auto response = client->request("GET", "/api/v1/namespaces");
    ASSERT_TRUE(response.ok()) << response.error();
    ASSERT_EQ(response->status, 200);
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The burst goes at once; the other 20 need 20 tokens at 20 per second: at
  // least 1 s however fast the machine (a slow machine only adds time).
  EXPECT_GE(elapsed, 0.95 * (kRequests - 5) / 20.0);
  EXPECT_GT(throttled.load(), 0);
  EXPECT_EQ(server.requests().size(), static_cast<std::size_t>(kRequests));
}

TEST_F(KubernetesClientTest, RateLimitDoesNotWaitPastTheRequestsDeadline) {
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(200); });
  KubernetesClient::Options options;
  options.qps = 0.1;  // the next token comes after 10 s
  options.burst = 1;
  auto client = makeClient(plainConfig(server), options);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->request("GET", "/a").ok());
  const auto start = std::chrono::steady_clock::now();
  auto late = client->requestWithin(500ms, "GET", "/b");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.errorKind(), ErrorKind::Transient);
  EXPECT_NE(late.error().find("rate limit"), std::string::npos) << late.error();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // gave up instead of waiting the 10 s
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(KubernetesClientTest, AWatchTakesOneTokenPerConnectNotPerEvent) {
  const std::string events = R"({"type":"ADDED","object":{}})" "\n" R"({"type":"MODIFIED","object":{}})" "\n"
                             R"({"type":"DELETED","object":{}})" "\n";
  LocalApiServer server([&](const auto&) { return LocalApiServer::answer(200, events); });
  KubernetesClient::Options options;
  options.qps = 0.1;  // one token now, the next after 10 s
  options.burst = 2;
  auto client = makeClient(plainConfig(server), options);
  ASSERT_TRUE(client);
  StreamCancel cancel;
  std::string received;
  auto watched = client->stream("/api/v1/pods?watch=1", [&](std::string_view piece) {
    received.append(piece);
    return true;
  }, cancel, 5s);
  ASSERT_TRUE(watched.ok()) << watched.error();
  EXPECT_EQ(received, events);  // three events, one token
  ASSERT_TRUE(client->requestWithin(500ms, "GET", "/a").ok());  // the burst's second token
  auto third = client->requestWithin(500ms, "GET", "/b");
  ASSERT_FALSE(third.ok());  // the watch's connect took the first one
  EXPECT_NE(third.error().find("rate limit"), std::string::npos) << third.error();
}

// --- Retry-After --------------------------------------------------------------

TEST_F(KubernetesClientTest, TooManyRequestsIsRetriedAfterTheServersWait) {
  std::atomic<int> calls{0};
  LocalApiServer server([&](const auto&) {
    if (++calls <= 2) return LocalApiServer::answer(429, R"({"message":"too many requests"})", {{"Retry-After", "1"}});
    return LocalApiServer::answer(200, R"({"kind":"PodList"})");
  });
  KubernetesClient::Options options;
  std::vector<std::chrono::milliseconds> waits;
  options.onRetryAfter = [&](int status, std::chrono::milliseconds wait) {
    EXPECT_EQ(status, 429);
    waits.push_back(wait);
  };
  auto client = makeClient(plainConfig(server), options);
  ASSERT_TRUE(client);
  const auto response = client->request("POST", "/api/v1/namespaces/default/events", "{}");
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response->status, 200);
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{1000ms, 1000ms}));
  // The waits were honoured: each resend came at least Retry-After later.
  EXPECT_GE(seen[1].at - seen[0].at, 950ms);
  EXPECT_GE(seen[2].at - seen[1].at, 950ms);
}

TEST_F(KubernetesClientTest, RetryAfterIsCappedAndTheRetriesBounded) {
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(429, "{}", {{"Retry-After", "3600"}}); });
  KubernetesClient::Options options;
  options.maxRetryAfter = 1s;
  options.maxRetryAfterRetries = 2;
  auto client = makeClient(plainConfig(server), options);
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  const auto response = client->request("GET", "/api/v1/pods");
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response->status, 429);  // handed back after the bounded retries
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1900ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);  // not the hour asked for
}

TEST_F(KubernetesClientTest, UnavailableWithRetryAfterIsRetriedOnlyWhenSafeToRepeat) {
  std::atomic<int> calls{0};
  LocalApiServer server([&](const auto&) {
    if (++calls == 1) return LocalApiServer::answer(503, "{}", {{"Retry-After", "1"}});
    return LocalApiServer::answer(200);
  });
  auto client = makeClient(plainConfig(server), KubernetesClient::Options{});
  ASSERT_TRUE(client);
  const auto get = client->request("GET", "/api/v1/pods");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(server.requests().size(), 2u);

  calls = 0;
  const auto post = client->request("POST", "/api/v1/namespaces/default/pods", "{}");
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->status, 503);  // a create may have happened: not resent
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(KubernetesClientTest, RetryAfterBeyondTheDeadlineReturnsTheAnswer) {
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(429, "{}", {{"Retry-After", "5"}}); });
  auto client = makeClient(plainConfig(server), KubernetesClient::Options{});
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  const auto response = client->requestWithin(2s, "PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/x", "{}");
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(apiErrorKind(response->status), ErrorKind::Transient);
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

// --- exec credential plugins ------------------------------------------------

TEST_F(KubernetesClientTest, ExecPluginTokenIsSentCachedAndRenewedAfterExpiry) {
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(200); });
  KubernetesConfig config = plainConfig(server);
  config.exec.apiVersion = "client.authentication.k8s.io/v1";
  config.exec.command = countingPlugin(6).string();
  config.exec.provideClusterInfo = true;
  auto client = makeClient(config, KubernetesClient::Options{});
  ASSERT_TRUE(client);

  ASSERT_TRUE(client->request("GET", "/a").ok());
  ASSERT_TRUE(client->request("GET", "/b").ok());
  EXPECT_EQ(pluginRuns(), 1);  // cached while valid
  std::this_thread::sleep_for(7s);
  ASSERT_TRUE(client->request("GET", "/c").ok());
  EXPECT_EQ(pluginRuns(), 2);  // expired: run again

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].authorization, "Bearer tok-1");
  EXPECT_EQ(seen[1].authorization, "Bearer tok-1");
  EXPECT_EQ(seen[2].authorization, "Bearer tok-2");

  std::ifstream infoFile(dir_ / "exec-info");
  const std::string info((std::istreambuf_iterator<char>(infoFile)), std::istreambuf_iterator<char>());
  EXPECT_NE(info.find(R"("apiVersion":"client.authentication.k8s.io/v1")"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("interactive":false)"), std::string::npos) << info;
  EXPECT_NE(info.find("http://127.0.0.1:" + std::to_string(server.port())), std::string::npos) << info;
}

TEST_F(KubernetesClientTest, ExecPluginRunsAgainAfterA401) {
  // The first token is refused, as a revoked one would be.
  LocalApiServer server([](const LocalApiServer::Request& request) {
    return LocalApiServer::answer(request.authorization == "Bearer tok-2" ? 200 : 401);
  });
  KubernetesConfig config = plainConfig(server);
  config.exec.apiVersion = "client.authentication.k8s.io/v1";
  config.exec.command = countingPlugin(3600).string();
  auto client = makeClient(config, KubernetesClient::Options{});
  ASSERT_TRUE(client);
  const auto response = client->request("GET", "/a");
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(pluginRuns(), 2);
}

TEST_F(KubernetesClientTest, ExecPluginEnvAndArgsReachThePlugin) {
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(200); });
  KubernetesConfig config = plainConfig(server);
  config.exec.apiVersion = "client.authentication.k8s.io/v1beta1";
  config.exec.command = script("env-plugin.sh",
                               "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
                               "\"status\":{\"token\":\"%s-%s\"}}' \"$PLUGIN_PREFIX\" \"$1\"\n")
                            .string();
  config.exec.args = {"from-arg"};
  config.exec.env = {{"PLUGIN_PREFIX", "from-env"}};
  auto client = makeClient(config, KubernetesClient::Options{});
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->request("GET", "/a").ok());
  EXPECT_EQ(server.requests().at(0).authorization, "Bearer from-env-from-arg");
}

TEST_F(KubernetesClientTest, ABrokenPluginGivesAnErrorNamingIt) {
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(200); });
  struct Case {
    std::string body;
    std::string expected;
  };
  const std::vector<Case> cases{
      {"echo 'this is not JSON'\n", "bad ExecCredential: output is not a JSON object"},
      {"echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
       "apiVersion: 'client.authentication.k8s.io/v1beta1' does not match"},
      {"echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{}}'\n",
       "status: neither a token nor clientCertificateData"},
      {"echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
       "\"expirationTimestamp\":\"tomorrow\"}}'\n",
       "status.expirationTimestamp"},
      {"echo 'cannot reach the identity provider' >&2; exit 3\n", "exited with status 3: cannot reach the identity provider"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    KubernetesConfig config = plainConfig(server);
    config.exec.apiVersion = "client.authentication.k8s.io/v1";
    config.exec.command = script("bad-" + std::to_string(i) + ".sh", cases[i].body).string();
    auto client = makeClient(config, KubernetesClient::Options{});
    ASSERT_TRUE(client);
    const auto response = client->request("GET", "/a");
    ASSERT_FALSE(response.ok()) << cases[i].body;
    EXPECT_NE(response.error().find("exec credential plugin '" + config.exec.command + "'"), std::string::npos)
        << response.error();
    EXPECT_NE(response.error().find(cases[i].expected), std::string::npos) << response.error();
  }
  KubernetesConfig missing = plainConfig(server);
  missing.exec.apiVersion = "client.authentication.k8s.io/v1";
  missing.exec.command = (dir_ / "no-such-plugin").string();
  missing.exec.installHint = "install it from the identity team";
  auto client = makeClient(missing, KubernetesClient::Options{});
  ASSERT_TRUE(client);
  const auto response = client->request("GET", "/a");
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.error().find("no-such-plugin"), std::string::npos) << response.error();
  EXPECT_NE(response.error().find("install it from the identity team"), std::string::npos) << response.error();
  EXPECT_TRUE(server.requests().empty());  // nothing sent without credentials
}

// --- CA rotation ------------------------------------------------------------

class Pki {
 public:
  explicit Pki(fs::path dir) : dir_(std::move(dir)) {}

  // A self-signed CA `name` and a server certificate for 127.0.0.1 it signs.
  bool issue(const std::string& name) {
    const std::string d = dir_.string() + "/" + name;
    const std::string commands =
        "set -e; cd '" + dir_.string() + "'; "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=" + name + " CA' -keyout " + d + "-ca.key -out " + d +
        "-ca.crt; "
        "openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' -keyout " + d + "-server.key -out " + d + "-server.csr; "
        "printf 'subjectAltName=IP:127.0.0.1\\n' > " + d + "-ext.cnf; "
        "openssl x509 -req -in " + d + "-server.csr -CA " + d + "-ca.crt -CAkey " + d + "-ca.key -CAcreateserial -days 2 "
        "-extfile " + d + "-ext.cnf -out " + d + "-server.crt";
    return std::system(("(" + commands + ") >/dev/null 2>&1").c_str()) == 0;
  }
  fs::path file(const std::string& name, const std::string& suffix) const { return dir_ / (name + suffix); }

 private:
  fs::path dir_;
};

// Replaces `target` with `source` by rename, as the kubelet and cert-manager rotate files.
void replaceFile(const fs::path& source, const fs::path& target) {
  const fs::path staged = target.string() + ".new";
  fs::copy_file(source, staged, fs::copy_options::overwrite_existing);
  fs::rename(staged, target);
}

TEST_F(KubernetesClientTest, ARotatedCaFileIsUsedByNewConnections) {
  Pki pki(dir_);
  ASSERT_TRUE(pki.issue("old")) << "openssl could not issue the test certificates";
  ASSERT_TRUE(pki.issue("new"));
  const fs::path serverCert = dir_ / "serving.crt";
  const fs::path serverKey = dir_ / "serving.key";
  replaceFile(pki.file("old", "-server.crt"), serverCert);
  replaceFile(pki.file("old", "-server.key"), serverKey);
  const fs::path caFile = dir_ / "ca.crt";
  replaceFile(pki.file("old", "-ca.crt"), caFile);

  LocalApiServer server([](const auto&) { return LocalApiServer::answer(200); },
                        LocalApiServer::TlsFiles{serverCert, serverKey, {}});
  KubernetesConfig config;
  config.tls = true;
  config.host = "127.0.0.1";
  config.port = server.port();
  config.caFile = caFile.string();
  config.origin = "test";
  auto client = makeClient(config, KubernetesClient::Options{});
  ASSERT_TRUE(client);

  auto first = client->request("GET", "/a");
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ(first->status, 200);

  // The server moves to a certificate of the new CA: the old CA rejects it.
  replaceFile(pki.file("new", "-server.crt"), serverCert);
  replaceFile(pki.file("new", "-server.key"), serverKey);
  auto rejected = client->request("GET", "/b");
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.errorKind(), ErrorKind::Unavailable);

  // The CA file is rotated: the next connection trusts the new CA, no restart.
  replaceFile(pki.file("new", "-ca.crt"), caFile);
  auto rotated = client->request("GET", "/c");
  ASSERT_TRUE(rotated.ok()) << rotated.error();
  EXPECT_EQ(rotated->status, 200);

  // A half-written CA file keeps the last good one in use.
  std::ofstream(caFile, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\ntruncated";
  auto stillGood = client->request("GET", "/d");
  ASSERT_TRUE(stillGood.ok()) << stillGood.error();
  EXPECT_EQ(stillGood->status, 200);
}

TEST_F(KubernetesClientTest, ExecPluginClientCertificateIsPresented) {
  Pki pki(dir_);
  ASSERT_TRUE(pki.issue("ca")) << "openssl could not issue the test certificates";
  // The server's certificate doubles as the client's: the same CA signs both.
  LocalApiServer server([](const auto&) { return LocalApiServer::answer(200); },
                        LocalApiServer::TlsFiles{pki.file("ca", "-server.crt"), pki.file("ca", "-server.key"),
                                                 pki.file("ca", "-ca.crt")});
  KubernetesConfig config;
  config.tls = true;
  config.host = "127.0.0.1";
  config.port = server.port();
  config.caFile = pki.file("ca", "-ca.crt").string();
  config.origin = "test";
  {
    auto withoutCertificate = makeClient(config, KubernetesClient::Options{});
    ASSERT_TRUE(withoutCertificate);
    EXPECT_FALSE(withoutCertificate->request("GET", "/a").ok());  // the server demands a client certificate
  }
  config.exec.apiVersion = "client.authentication.k8s.io/v1";
  config.exec.command =
      script("cert-plugin.sh",
             "pem() { awk '{printf \"%s\\\\n\", $0}' \"$1\"; }\n"
             "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"clientCertificateData\":\"%s\",\"clientKeyData\":\"%s\"}}' \"$(pem '" +
                 pki.file("ca", "-server.crt").string() + "')\" \"$(pem '" + pki.file("ca", "-server.key").string() +
                 "')\"\n")
          .string();
  auto client = makeClient(config, KubernetesClient::Options{});
  ASSERT_TRUE(client);
  auto response = client->request("GET", "/b");
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(server.requests().back().authorization, "");  // a certificate, no bearer token
}

}  // namespace
}  // namespace ringlb::op
