#pragma once

// A scripted stand-in for dockerd on a unix socket or 127.0.0.1, for tests of
// DockerClient, DockerEventWatcher and DockerRuntime's event handling.

#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace ringlb::op::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;

/// What the fake writes on one connection. `raw` is sent as is; each `pieces`
/// entry after it is sent as one HTTP chunk after `pause`, and the chunked
/// body is then ended unless `hold` is set, which keeps it open until the
/// engine stops.
struct FakeReply {
  std::string raw;
  std::vector<std::string> pieces;
  std::chrono::milliseconds pause{0};
  bool hold = false;
  bool neverAnswer = false;

  static FakeReply json(unsigned status, const std::string& body) {
    FakeReply reply;
    reply.raw = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    return reply;
  }
  static FakeReply stream(std::vector<std::string> pieces, std::chrono::milliseconds pause, bool hold) {
    FakeReply reply;
    reply.raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    reply.pieces = std::move(pieces);
    reply.pause = pause;
    reply.hold = hold;
    return reply;
  }
};

struct FakeRequest {
  std::string method;
  std::string target;
  std::string body;
};

class FakeDockerEngine {
 public:
  using Handler = std::function<FakeReply(const FakeRequest&)>;

  /// Serves on a fresh unix socket under the temp dir, or on 127.0.0.1:0.
  FakeDockerEngine(bool tcp, Handler handler) : handler_(std::move(handler)), tcp_(tcp) {
    if (tcp_) {
      tcpAcceptor_.open(asio::ip::tcp::v4());
      tcpAcceptor_.set_option(asio::socket_base::reuse_address(true));
      tcpAcceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
      tcpAcceptor_.listen();
    } else {
      path_ = (std::filesystem::temp_directory_path() /
               ("ringlb-fake-docker-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++) + ".sock"))
                  .string();
      std::filesystem::remove(path_);
      unixAcceptor_.open();
      unixAcceptor_.bind(asio::local::stream_protocol::endpoint(path_));
      unixAcceptor_.listen();
    }
    thread_ = std::thread([this] { acceptLoop(); });
  }

  ~FakeDockerEngine() { stop(); }

  void stop() {
    if (stopping_.exchange(true)) return;
    // Unblock accept() with one last connection of our own.
    boost::system::error_code ec;
    if (tcp_) {
      asio::ip::tcp::socket s(ctx_);
      s.connect(tcpAcceptor_.local_endpoint(), ec);
    } else {
      asio::local::stream_protocol::socket s(ctx_);
      s.connect(asio::local::stream_protocol::endpoint(path_), ec);
    }
    thread_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (auto& w : workers) w.join();
    if (!tcp_) std::filesystem::remove(path_);
  }

  /// DOCKER_HOST for this engine.
  std::string host() const {
    if (tcp_) return "tcp://127.0.0.1:" + std::to_string(tcpAcceptor_.local_endpoint().port());
    return "unix://" + path_;
  }

  std::vector<FakeRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  int connections() const { return connections_.load(); }

 private:
  static std::atomic<int>& counter() {
    static std::atomic<int> n{0};
    return n;
  }

  void acceptLoop() {
    while (!stopping_) {
      boost::system::error_code ec;
      if (tcp_) {
        auto socket = std::make_shared<asio::ip::tcp::socket>(ctx_);
        tcpAcceptor_.accept(*socket, ec);
        if (ec || stopping_) break;
        spawn([this, socket] { serve(*socket); });
      } else {
        auto socket = std::make_shared<asio::local::stream_protocol::socket>(ctx_);
        unixAcceptor_.accept(*socket, ec);
        if (ec || stopping_) break;
        spawn([this, socket] { serve(*socket); });
      }
    }
  }

  void spawn(std::function<void()> work) {
    ++connections_;
    std::lock_guard lock(mutex_);
    workers_.emplace_back(std::move(work));
  }

  template <class Socket>
  void serve(Socket& socket) {
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    FakeRequest request{std::string(req.method_string()), std::string(req.target()), req.body()};
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    const FakeReply reply = handler_(request);
    if (reply.neverAnswer) {
      while (!stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return;
    }
    asio::write(socket, asio::buffer(reply.raw), ec);
    if (ec || reply.raw.find("chunked") == std::string::npos) return;
    for (const auto& piece : reply.pieces) {
      std::this_thread::sleep_for(reply.pause);
      if (stopping_) return;
      std::string chunk = toHex(piece.size()) + "\r\n" + piece + "\r\n";
      asio::write(socket, asio::buffer(chunk), ec);
      if (ec) return;
    }
    if (reply.hold) {
      while (!stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return;
    }
    asio::write(socket, asio::buffer(std::string("0\r\n\r\n")), ec);
  }

  static std::string toHex(std::size_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%zx", n);
    return buf;
  }

  Handler handler_;
  bool tcp_;
  std::string path_;
  asio::io_context ctx_;
  asio::ip::tcp::acceptor tcpAcceptor_{ctx_};
  asio::local::stream_protocol::acceptor unixAcceptor_{ctx_};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<FakeRequest> requests_;
};

}  // namespace ringlb::op::testing
