#include "ringlb/operator/heartbeat_prober.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "h2c_test_server.h"
#include "ringlb/operator/grpc_health_message.h"

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

ProbeTarget h2cTarget(ProbeTarget target, std::optional<std::string> grpcService = std::nullopt) {
  target.protocol = ring::UpstreamProtocol::H2c;
  if (grpcService) target.check.grpc = GrpcHealthCheck{*grpcService};
  return target;
}

TEST_F(ProberTest, H2cRingIsProbedWithAnHttp2GetOfThePath) {
  H2cTestServer server;
  prober->setTargets("default/t", {h2cTarget(target(server.address()))});
  ProbeResult result = next();
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.detail, "HTTP/2 200");
  EXPECT_EQ(server.lastRequest().method, "GET");
  EXPECT_EQ(server.lastRequest().path, "/healthz");
  server.status = 503;
  result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "HTTP/2 503");
}

TEST_F(ProberTest, GrpcHealthCheckPassesOnlyWhenServing) {
  H2cTestServer server;
  server.mode = H2cTestServer::Mode::GrpcHealth;
  prober->setTargets("default/t", {h2cTarget(target(server.address()), "ringlb.test.Echo")});
  ProbeResult result = next();
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.detail, "gRPC SERVING");
  const auto request = server.lastRequest();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/grpc.health.v1.Health/Check");
  EXPECT_EQ(request.contentType, "application/grpc");
  EXPECT_EQ(request.te, "trailers");
  EXPECT_EQ(request.body, grpcHealthCheckRequestBody("ringlb.test.Echo"));
  for (const std::uint8_t status : {2, 0, 3}) {
    server.servingStatus = status;
    result = next();
    EXPECT_FALSE(result.success) << "status " << int(status);
    EXPECT_EQ(result.detail, "gRPC " + servingStatusName(status));
  }
}

TEST_F(ProberTest, GrpcErrorStatusFailsWithItsNameAndMessage) {
  H2cTestServer server;
  server.mode = H2cTestServer::Mode::GrpcError;
  server.grpcStatus = 5;
  prober->setTargets("default/t", {h2cTarget(target(server.address()), "nosuch")});
  ProbeResult result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "grpc-status 5 NOT_FOUND: unknown service");
  server.grpcStatus = 0;  // OK in a trailers-only response carries no HealthCheckResponse
  result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "gRPC response has 0 bytes, less than a gRPC message prefix");
}

TEST_F(ProberTest, GrpcHealthCheckOfAPlainHttp2ServerFails) {
  H2cTestServer server;  // answers 200 without grpc-status, as a non-gRPC server
  prober->setTargets("default/t", {h2cTarget(target(server.address()), "")});
  ProbeResult result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "gRPC response without grpc-status");
  server.status = 404;
  result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "HTTP/2 404 (not a gRPC response)");
}

TEST_F(ProberTest, ResetStreamFails) {
  H2cTestServer server;
  server.mode = H2cTestServer::Mode::ResetStream;
  prober->setTargets("default/t", {h2cTarget(target(server.address()), "")});
  const ProbeResult result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "HTTP/2 stream reset: REFUSED_STREAM");
}

TEST_F(ProberTest, SilentH2cReplicaTimesOut) {
  H2cTestServer server;
  server.mode = H2cTestServer::Mode::Silent;
  prober->setTargets("default/t", {h2cTarget(target(server.address()), "")});
  const ProbeResult result = next();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "timed out after 1s");
  EXPECT_EQ(server.requests, 1) << "the request reached the server";
}

TEST_F(ProberTest, Http1OnlyReplicaFailsTheH2cProbe) {
  // An HTTP/1.1 server answers the HTTP/2 preface with a 400, as most do, and waits for the close.
  asio::io_context serverIo;
  tcp::acceptor acceptor(serverIo, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::thread server([&] {
    tcp::socket socket(serverIo);
    acceptor.accept(socket);
    std::array<char, 256> preface;
    beast::error_code ec;
    socket.read_some(asio::buffer(preface), ec);
    asio::write(socket, asio::buffer(std::string_view("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")), ec);
    while (!ec) socket.read_some(asio::buffer(preface), ec);
  });
  prober->setTargets("default/t", {h2cTarget(target("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port())))});
  const ProbeResult result = next();
  prober->setTargets("default/t", {});
  server.join();
  EXPECT_FALSE(result.success);
  EXPECT_EQ(result.detail, "HTTP/2 protocol error before the response (does the replica speak h2c?)");
}

TEST_F(ProberTest, ProtocolChangeRestartsTheProbeInTheNewProtocol) {
  H2cTestServer server;
  prober->setTargets("default/t", {target(server.address())});
  EXPECT_FALSE(next().success) << "an HTTP/1.1 GET is no HTTP/2 preface";
  prober->setTargets("default/t", {h2cTarget(target(server.address()))});
  ProbeResult result = next();
  while (!result.success && !result.detail.empty() && result.detail.rfind("HTTP/2", 0) != 0) result = next();
  EXPECT_TRUE(result.success) << result.detail;
  EXPECT_EQ(result.detail, "HTTP/2 200");
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
