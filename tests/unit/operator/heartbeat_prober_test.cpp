#include "ringlb/operator/heartbeat_prober.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

// A blocking one-connection-at-a-time HTTP server on 127.0.0.1:0 answering
// `status` (or never answering when `silent`).
class TinyServer {
 public:
  TinyServer() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { run(); });
  }
  ~TinyServer() {
    stopping_ = true;
    beast::error_code ec;
    // Wake the blocking accept.
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  std::atomic<unsigned> status{200};
  std::atomic<bool> silent{false};
  std::atomic<int> requests{0};
  std::string lastTarget;

 private:
  void run() {
    while (!stopping_) {
      tcp::socket socket(io_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      if (ec) continue;
      ++requests;
      lastTarget = std::string(request.target());
      if (silent) {
        std::this_thread::sleep_for(1500ms);
        continue;
      }
      http::response<http::string_body> response{static_cast<http::status>(status.load()), 11};
      response.body() = "ok";
      response.prepare_payload();
      http::write(socket, response, ec);
    }
  }
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

class ProberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prober = std::make_unique<HeartbeatProber>(io, [this](const ProbeResult& result) {
      std::lock_guard lock(mutex);
      results.push_back(result);
      changed.notify_all();
    }, 50ms);
    work = std::thread([this] {
      auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
  void TearDown() override {
    prober->stop();
    io.stop();
    work.join();
  }
  ProbeResult next(std::chrono::milliseconds timeout = 3s) {
    std::unique_lock lock(mutex);
    EXPECT_TRUE(changed.wait_for(lock, timeout, [this] { return !results.empty(); })) << "no probe result";
    if (results.empty()) return {};
    ProbeResult result = results.front();
    results.erase(results.begin());
    return result;
  }
  ProbeTarget target(const std::string& address, bool starting = false) {
    HealthCheck check;
    check.path = "/healthz";
    check.intervalSeconds = 1;
    check.timeoutSeconds = 1;
    return {"default/t", "t", "t-0", "1:1", address, check, starting};
  }

  asio::io_context io;
  std::unique_ptr<HeartbeatProber> prober;
  std::thread work;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ProbeResult> results;
};

TEST_F(ProberTest, HealthyReplicaPassesAndCarriesItsIdentity) {
  TinyServer server;
  prober->setTargets("default/t", {target(server.address())});
  const ProbeResult result = next();
  EXPECT_TRUE(result.success);
  EXPECT_EQ(result.detail, "HTTP 200");
  EXPECT_EQ(result.slot, "t-0");
  EXPECT_EQ(result.runtimeId, "1:1");
  EXPECT_EQ(server.lastTarget, "/healthz");
}

TEST_F(ProberTest, ErrorStatusFails) {
  TinyServer server;
  server.status = 503;
  prober->setTargets("default/t", {target(server.address())});
  const ProbeResult result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "HTTP 503");
}

TEST_F(ProberTest, RefusedConnectionFails) {
  std::string address;
  {
    TinyServer server;
    address = server.address();
  }
  prober->setTargets("default/t", {target(address)});
  const ProbeResult result = next();
  EXPECT_FALSE(result.success);
  EXPECT_NE(result.detail.find("connect"), std::string::npos) << result.detail;
}

TEST_F(ProberTest, SilentReplicaTimesOut) {
  TinyServer server;
  server.silent = true;
  const auto began = std::chrono::steady_clock::now();
  prober->setTargets("default/t", {target(server.address())});
  const ProbeResult result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "timed out after 1s");
  EXPECT_GE(std::chrono::steady_clock::now() - began, 900ms);
}

TEST_F(ProberTest, StartingTargetsAreProbedFasterAndRemovedTargetsStop) {
  TinyServer server;
  prober->setTargets("default/t", {target(server.address(), /*starting=*/true)});
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(next(500ms).success) << "probe " << i << " came late";
  prober->setTargets("default/t", {});
  std::this_thread::sleep_for(200ms);
  const int before = server.requests;
  std::this_thread::sleep_for(300ms);
  EXPECT_LE(server.requests - before, 0) << "no probes after removal";
}

TEST(SplitHostPort, Forms) {
  auto split = splitHostPort("127.0.0.1:80");
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->host, "127.0.0.1");
  EXPECT_EQ(split->port, "80");
  split = splitHostPort("[::1]:9");
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->host, "::1");
  EXPECT_FALSE(splitHostPort("nocolon").ok());
  EXPECT_FALSE(splitHostPort("host:").ok());
}

}  // namespace
}  // namespace ringlb::op
