// KubernetesClient and ListWatcher against the fake API server: TLS with the
// server's CA, bearer tokens re-read after a 401, chunked watches split into
// tiny pieces, 410 relists, and the client-side idle timeout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "ringlb/operator/kubernetes_client.h"
#include "ringlb/operator/kubernetes_list_watcher.h"

namespace ringlb::op {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

/// fake_apiserver.py in a child process; killed in the destructor.
class FakeApiServer {
 public:
  FakeApiServer(bool tls, const fs::path& dir, const fs::path& tokenFile) {
    const char* script = std::getenv("RINGLB_FAKE_APISERVER");
    const char* python = std::getenv("RINGLB_PYTHON");
    if (script == nullptr) return;
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      std::vector<std::string> args{python ? python : "python3", script, "--port", "0", "--token-file", tokenFile.string()};
      if (tls) {
        args.insert(args.end(), {"--tls", "--cert-dir", dir.string()});
      }
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    ::close(out[0]);
    const json info = json::parse(line, nullptr, false);
    if (!info.is_object()) return;
    port_ = info["port"].get<std::uint16_t>();
    if (info["caFile"].is_string()) caFile_ = info["caFile"].get<std::string>();
  }
  ~FakeApiServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool running() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  const std::string& caFile() const { return caFile_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string caFile_;
};

class ClientAgainstFake : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ringlb-client-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    tokenFile_ = dir_ / "token";
    std::ofstream(tokenFile_) << "first-token\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<FakeApiServer> start(bool tls) {
    auto fake = std::make_unique<FakeApiServer>(tls, dir_, tokenFile_);
    return fake;
  }

  KubernetesConfig configFor(const FakeApiServer& fake, bool tls) {
    KubernetesConfig config;
    config.tls = tls;
    config.host = "127.0.0.1";
    config.port = fake.port();
    config.caFile = fake.caFile();
    config.tokenFile = (dir_ / "client-token").string();
    std::ofstream(config.tokenFile) << "first-token\n";
    config.origin = "test";
    return config;
  }

  // A plain-HTTP client of a fake whose watches send nothing: fake_ and client_.
  void connectToStalledFake() {
    fake_ = start(false);
    ASSERT_TRUE(fake_->running()) << "the fake API server (python3 tests/e2e/kubernetes/fake_apiserver.py) did not start";
    auto client = KubernetesClient::create(configFor(*fake_, false));
    ASSERT_TRUE(client.ok()) << client.error();
    client_ = std::move(client.value());
    ASSERT_TRUE(client_->request("POST", "/_fake/watches/stall", R"({"stalled":true})", "application/json").ok());
  }

  fs::path dir_;
  fs::path tokenFile_;
  std::unique_ptr<FakeApiServer> fake_;
  std::unique_ptr<KubernetesClient> client_;
};

TEST_F(ClientAgainstFake, TlsWithTheServersCaAndTokenRereadAfter401) {
  auto fake = start(true);
  ASSERT_TRUE(fake->running()) << "the fake API server (python3 tests/e2e/kubernetes/fake_apiserver.py) did not start";
  auto config = configFor(*fake, true);
  auto client = KubernetesClient::create(config);
  ASSERT_TRUE(client.ok()) << client.error();
  auto version = client.value()->request("GET", "/version");
  ASSERT_TRUE(version.ok()) << version.error();
  EXPECT_EQ(version->status, 200);
  EXPECT_EQ(json::parse(version->body)["major"], "1");

  // The server rotates the token; the client learns the new one from its file after one 401.
  std::ofstream(tokenFile_) << "second-token\n";
  std::ofstream(config.tokenFile) << "second-token\n";
  auto after = client.value()->request("GET", "/api/v1/namespaces/default/pods");
  ASSERT_TRUE(after.ok()) << after.error();
  EXPECT_EQ(after->status, 200);

  // A wrong token stays a 401 answer (not a transport error).
  std::ofstream(config.tokenFile) << "wrong\n";
  std::ofstream(tokenFile_) << "third-token\n";
  auto denied = client.value()->request("GET", "/api/v1/namespaces/default/pods");
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->status, 401);
}

TEST_F(ClientAgainstFake, RejectsAServerItsCaDidNotSign) {
  auto fake = start(true);
  ASSERT_TRUE(fake->running()) << "the fake API server (python3 tests/e2e/kubernetes/fake_apiserver.py) did not start";
  const fs::path other = dir_ / "other";
  fs::create_directories(other);
  const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other -keyout " +
                              (other / "k.pem").string() + " -out " + (other / "c.pem").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto config = configFor(*fake, true);
  config.caFile = (other / "c.pem").string();
  auto client = KubernetesClient::create(config);
  ASSERT_TRUE(client.ok()) << client.error();
  auto answer = client.value()->request("GET", "/version");
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.error().find("certificate verify failed"), std::string::npos) << answer.error();

  config.insecureSkipTlsVerify = true;
  auto insecure = KubernetesClient::create(config);
  ASSERT_TRUE(insecure.ok());
  auto accepted = insecure.value()->request("GET", "/version");
  ASSERT_TRUE(accepted.ok()) << accepted.error();
  EXPECT_EQ(accepted->status, 200);
}

TEST_F(ClientAgainstFake, WatchSplitIntoTinyChunksAndRelistAfter410) {
  auto fake = start(false);
  ASSERT_TRUE(fake->running()) << "the fake API server (python3 tests/e2e/kubernetes/fake_apiserver.py) did not start";
  auto client = KubernetesClient::create(configFor(*fake, false));
  ASSERT_TRUE(client.ok()) << client.error();
  KubernetesApi& api = *client.value();
  // Every watch event arrives in 3-byte chunks.
  auto configured = api.request("POST", "/_fake/config", R"({"watchChunkBytes":3})", "application/json");
  ASSERT_TRUE(configured.ok() && configured->success());
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
  auto create = [&](const std::string& name) {
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", name}}},
                  {"spec", {{"holderIdentity", "x"}}}};
    auto created = api.request("POST", leases, lease.dump(), "application/json");
    ASSERT_TRUE(created.ok() && created->status == 201) << (created.ok() ? created->body : created.error());
  };
  create("a");

  std::mutex mutex;
  std::vector<std::pair<ListWatcher::EventType, std::string>> events;
  ListWatchOptions options;
  options.path = leases;
  options.pageSize = 1;  // two pages
  options.initialBackoff = std::chrono::milliseconds(20);
  ListWatcher::Handler handler;
  handler.onEvent = [&](ListWatcher::EventType type, const json& object) {
    std::lock_guard lock(mutex);
    events.emplace_back(type, object["metadata"]["name"].get<std::string>());
  };
  handler.onError = [](const std::string& error) { std::fprintf(stderr, "watch error: %s\n", error.c_str()); };
  create("b");
  ListWatcher watcher(api, options, handler);
  watcher.start();
  auto waitFor = [&](std::size_t count) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mutex);
        if (events.size() >= count) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  ASSERT_TRUE(waitFor(2));
  create("c");
  ASSERT_TRUE(waitFor(3));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(events[2], std::make_pair(ListWatcher::EventType::Added, std::string("c")));
  }

  // Changes hidden from the open watch, then compacted away: only a relist can find them.
  ASSERT_TRUE(api.request("POST", "/_fake/watches/stall", R"({"stalled":true})", "application/json").ok());
  auto deleted = api.request("DELETE", leases + "/a");
  ASSERT_TRUE(deleted.ok() && deleted->success());
  create("d");
  ASSERT_TRUE(api.request("POST", "/_fake/compact", "{}", "application/json").ok());
  ASSERT_TRUE(api.request("POST", "/_fake/watches/stall", R"({"stalled":false})", "application/json").ok());
  ASSERT_TRUE(waitFor(5));
  watcher.stop();
  std::lock_guard lock(mutex);
  EXPECT_EQ(events[3], std::make_pair(ListWatcher::EventType::Deleted, std::string("a")));
  EXPECT_EQ(events[4], std::make_pair(ListWatcher::EventType::Added, std::string("d")));
  EXPECT_EQ(watcher.snapshot().size(), 3u);
}

TEST_F(ClientAgainstFake, SilentWatchHitsTheIdleTimeoutAndCancelIsPrompt) {
  connectToStalledFake();
  ASSERT_FALSE(HasFatalFailure());
  KubernetesApi& api = *client_;
  StreamCancel cancel;
  const auto began = std::chrono::steady_clock::now();
  auto result = api.stream("/api/v1/pods?watch=1&resourceVersion=0", [](std::string_view) { return true; }, cancel,
                           std::chrono::milliseconds(700));
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().find("no data"), std::string::npos) << result.error();
  EXPECT_LT(took, std::chrono::seconds(5));

  StreamCancel other;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    other.cancel();
  });
  const auto began2 = std::chrono::steady_clock::now();
  auto cancelled = api.stream("/api/v1/pods?watch=1&resourceVersion=0", [](std::string_view) { return true; }, other,
                              std::chrono::seconds(60));
  canceller.join();
  ASSERT_FALSE(cancelled.ok());
  EXPECT_NE(cancelled.error().find("cancelled"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - began2, std::chrono::seconds(5));
}

// stop() may land at any moment of a watch's life: while the address is being
// resolved, while connecting, or during the long read. Each must end the stream
// at once; a cancel that closed a not-yet-open socket used to go unnoticed and
// leave the stream reading until its idle timeout.
TEST_F(ClientAgainstFake, CancelAtAnyMomentOfAStreamEndsIt) {
  connectToStalledFake();
  ASSERT_FALSE(HasFatalFailure());
  KubernetesApi& api = *client_;
  for (int attempt = 0; attempt < 200; ++attempt) {
    StreamCancel cancel;
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(attempt * 25));
      cancel.cancel();
    });
    const auto began = std::chrono::steady_clock::now();
    auto result = api.stream("/api/v1/pods?watch=1&resourceVersion=0", [](std::string_view) { return true; }, cancel,
                             std::chrono::seconds(20));
    const auto took = std::chrono::steady_clock::now() - began;
    canceller.join();
    ASSERT_FALSE(result.ok()) << "attempt " << attempt;
    ASSERT_LT(took, std::chrono::seconds(3)) << "attempt " << attempt << " (cancel after " << attempt * 25
                                             << " us) was not prompt: " << result.error();
  }
}

}  // namespace
}  // namespace ringlb::op
