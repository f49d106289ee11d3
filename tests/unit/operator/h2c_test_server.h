#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nghttp2/nghttp2.h>

namespace ringlb::op {

/// A real HTTP/2 (prior knowledge) server on 127.0.0.1:0 built on nghttp2's
/// server session, one blocking connection at a time, for the heartbeat
/// prober's h2c and gRPC probes. It answers every request as `mode` says
/// and records what it was asked.
class H2cTestServer {
 public:
  enum class Mode {
    Status,         // `status`, no body
    GrpcHealth,     // 200, a HealthCheckResponse{servingStatus}, trailers grpc-status 0
    GrpcError,      // a trailers-only response: grpc-status `grpcStatus`, grpc-message "unknown service"
    Silent,         // reads the request, never answers
    ResetStream,    // RST_STREAM REFUSED_STREAM
  };

  H2cTestServer() : acceptor_(io_, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { run(); });
  }
  ~H2cTestServer() {
    stopping_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket poke(io_);  // wakes the blocking accept
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

  std::atomic<Mode> mode{Mode::Status};
  std::atomic<unsigned> status{200};
  std::atomic<std::uint8_t> servingStatus{1};
  std::atomic<int> grpcStatus{5};
  std::atomic<int> requests{0};

  struct Request {
    std::string method, path, contentType, te, body;
  };
  Request lastRequest() {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  struct Stream {
    std::int32_t id = 0;
    Request request;
    std::string responseBody;
    std::size_t sent = 0;
  };

  void run() {
    while (!stopping_) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      serve(socket);
    }
  }

  void serve(boost::asio::ip::tcp::socket& socket) {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &H2cTestServer::onBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2cTestServer::onHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &H2cTestServer::onData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &H2cTestServer::onFrame);
    nghttp2_session* session = nullptr;
    nghttp2_session_server_new(&session, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::array<std::uint8_t, 16384> buffer;
    boost::system::error_code ec;
    while (!stopping_ && (nghttp2_session_want_read(session) || nghttp2_session_want_write(session))) {
      const std::uint8_t* data = nullptr;
      ssize_t n = 0;
      while ((n = nghttp2_session_mem_send(session, &data)) > 0) {
        boost::asio::write(socket, boost::asio::buffer(data, static_cast<std::size_t>(n)), ec);
      }
      if (ec) break;
      const std::size_t got = socket.read_some(boost::asio::buffer(buffer), ec);
      if (ec) break;
      if (nghttp2_session_mem_recv(session, buffer.data(), got) < 0) break;
    }
    nghttp2_session_del(session);
    streams_.clear();
  }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) {
    auto& server = *static_cast<H2cTestServer*>(self);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    server.streams_.push_back(std::make_unique<Stream>());
    server.streams_.back()->id = frame->hd.stream_id;
    return 0;
  }
  Stream* find(std::int32_t id) {
    for (auto& stream : streams_) {
      if (stream->id == id) return stream.get();
    }
    return nullptr;
  }
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t nameLength,
                      const std::uint8_t* value, std::size_t valueLength, std::uint8_t, void* self) {
    Stream* stream = static_cast<H2cTestServer*>(self)->find(frame->hd.stream_id);
    if (!stream) return 0;
    const std::string field(reinterpret_cast<const char*>(name), nameLength);
    const std::string text(reinterpret_cast<const char*>(value), valueLength);
    if (field == ":method") stream->request.method = text;
    if (field == ":path") stream->request.path = text;
    if (field == "content-type") stream->request.contentType = text;
    if (field == "te") stream->request.te = text;
    return 0;
  }
  static int onData(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t length,
                    void* self) {
    if (Stream* stream = static_cast<H2cTestServer*>(self)->find(id)) {
      stream->request.body.append(reinterpret_cast<const char*>(data), length);
    }
    return 0;
  }
  static ssize_t readBody(nghttp2_session* session, std::int32_t id, std::uint8_t* buffer, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto& stream = *static_cast<Stream*>(source->ptr);
    const std::size_t n = std::min(length, stream.responseBody.size() - stream.sent);
    std::copy_n(stream.responseBody.data() + stream.sent, n, buffer);
    stream.sent += n;
    if (stream.sent == stream.responseBody.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      static const std::string kOk = "0";
      nghttp2_nv trailer[] = {field("grpc-status", kOk)};
      nghttp2_submit_trailer(session, id, trailer, 1);
    }
    return static_cast<ssize_t>(n);
  }
  static nghttp2_nv field(const char* name, const std::string& value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name)),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), std::strlen(name), value.size(),
            NGHTTP2_NV_FLAG_NO_COPY_NAME};
  }
  static int onFrame(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
    auto& server = *static_cast<H2cTestServer*>(self);
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      return 0;
    }
    Stream* stream = server.find(frame->hd.stream_id);
    if (!stream) return 0;
    {
      std::lock_guard lock(server.mutex_);
      server.last_ = stream->request;
    }
    ++server.requests;
    const std::string ok = "200", grpcType = "application/grpc";
    switch (server.mode.load()) {
      case Mode::Status: {
        const std::string status = std::to_string(server.status.load());
        nghttp2_nv fields[] = {field(":status", status)};
        nghttp2_submit_response(session, stream->id, fields, 1, nullptr);
        break;
      }
      case Mode::GrpcHealth: {
        stream->responseBody = std::string("\x00\x00\x00\x00\x02\x08", 6) + static_cast<char>(server.servingStatus.load());
        nghttp2_nv fields[] = {field(":status", ok), field("content-type", grpcType)};
        nghttp2_data_provider body{};
        body.source.ptr = stream;
        body.read_callback = &H2cTestServer::readBody;
        nghttp2_submit_response(session, stream->id, fields, 2, &body);
        break;
      }
      case Mode::GrpcError: {
        const std::string code = std::to_string(server.grpcStatus.load()), message = "unknown service";
        nghttp2_nv fields[] = {field(":status", ok), field("content-type", grpcType), field("grpc-status", code),
                               field("grpc-message", message)};
        nghttp2_submit_response(session, stream->id, fields, 4, nullptr);
        break;
      }
      case Mode::Silent: break;
      case Mode::ResetStream: nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_REFUSED_STREAM); break;
    }
    return 0;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<Stream>> streams_;  // server thread
  std::mutex mutex_;
  Request last_;
};

}  // namespace ringlb::op
