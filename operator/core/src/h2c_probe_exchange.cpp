#include "h2c_probe_exchange.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nghttp2/nghttp2.h>

#include "ringlb/operator/grpc_health_message.h"

namespace ringlb::op {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr std::string_view kGrpcHealthCheckPath = "/grpc.health.v1.Health/Check";
constexpr std::size_t kMaxResponseBody = 64 * 1024;  // as the HTTP/1.1 probe's body limit

// The one stream's request and what came back, filled by nghttp2's callbacks.
struct Exchange {
  std::int32_t streamId = -1;
  std::string requestBody;
  std::size_t requestSent = 0;
  unsigned status = 0;
  std::optional<int> grpcStatus;
  std::string grpcMessage;
  std::string body;
  bool bodyTooLarge = false;
  bool closed = false;
  std::uint32_t resetCode = NGHTTP2_NO_ERROR;
  std::optional<std::uint32_t> goawayCode;  // the replica's GOAWAY, if it sent one

  static int onFrame(nghttp2_session*, const nghttp2_frame* frame, void* self) {
    if (frame->hd.type == NGHTTP2_GOAWAY) static_cast<Exchange*>(self)->goawayCode = frame->goaway.error_code;
    return 0;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t nameLength,
                      const std::uint8_t* value, std::size_t valueLength, std::uint8_t, void* self) {
    auto& exchange = *static_cast<Exchange*>(self);
    if (frame->hd.stream_id != exchange.streamId) return 0;
    const std::string_view field(reinterpret_cast<const char*>(name), nameLength);
    const std::string_view text(reinterpret_cast<const char*>(value), valueLength);
    if (field == ":status") {
      std::from_chars(text.data(), text.data() + text.size(), exchange.status);
    } else if (field == "grpc-status") {
      int code = -1;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), code);
      exchange.grpcStatus = ec == std::errc{} && end == text.data() + text.size() ? code : -1;
    } else if (field == "grpc-message") {
      exchange.grpcMessage = std::string(text.substr(0, 200));
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session*, std::uint8_t, std::int32_t streamId, const std::uint8_t* data,
                         std::size_t length, void* self) {
    auto& exchange = *static_cast<Exchange*>(self);
    if (streamId != exchange.streamId) return 0;
    if (exchange.body.size() + length > kMaxResponseBody) {
      exchange.bodyTooLarge = true;
      return 0;
    }
    exchange.body.append(reinterpret_cast<const char*>(data), length);
    return 0;
  }

  static int onStreamClose(nghttp2_session*, std::int32_t streamId, std::uint32_t errorCode, void* self) {
    auto& exchange = *static_cast<Exchange*>(self);
    if (streamId != exchange.streamId) return 0;
    exchange.closed = true;
    exchange.resetCode = errorCode;
    return 0;
  }

  static ssize_t readRequestBody(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                                       std::uint32_t* flags, nghttp2_data_source*, void* self) {
    auto& exchange = *static_cast<Exchange*>(self);
    const std::size_t n = std::min(length, exchange.requestBody.size() - exchange.requestSent);
    std::copy_n(exchange.requestBody.data() + exchange.requestSent, n, buffer);
    exchange.requestSent += n;
    if (exchange.requestSent == exchange.requestBody.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

struct SessionDeleter {
  void operator()(nghttp2_session* session) const { nghttp2_session_del(session); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

SessionPtr newClientSession(Exchange& exchange) {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return nullptr;
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Exchange::onHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Exchange::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Exchange::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Exchange::onFrame);
  nghttp2_session* session = nullptr;
  const int rv = nghttp2_session_client_new(&session, callbacks, &exchange);
  nghttp2_session_callbacks_del(callbacks);
  return rv == 0 ? SessionPtr(session) : nullptr;
}

nghttp2_nv field(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// The verdict on a finished stream.
ProbeVerdict judge(const Exchange& exchange, bool grpc) {
  if (exchange.resetCode != NGHTTP2_NO_ERROR) {
    return {false, "HTTP/2 stream reset: " + std::string(nghttp2_http2_strerror(exchange.resetCode))};
  }
  const std::string status = "HTTP/2 " + std::to_string(exchange.status);
  if (!grpc) return {exchange.status >= 200 && exchange.status < 400, status};
  if (exchange.status != 200) return {false, status + " (not a gRPC response)"};
  if (!exchange.grpcStatus) return {false, "gRPC response without grpc-status"};
  if (*exchange.grpcStatus != 0) {
    const std::string_view name = grpcStatusCodeName(*exchange.grpcStatus);
    std::string detail = "grpc-status " + std::to_string(*exchange.grpcStatus);
    if (!name.empty()) detail += " " + std::string(name);
    if (!exchange.grpcMessage.empty()) detail += ": " + exchange.grpcMessage;
    return {false, detail};
  }
  if (exchange.bodyTooLarge) return {false, "gRPC response over " + std::to_string(kMaxResponseBody) + " bytes"};
  const auto serving = parseGrpcHealthCheckResponse(exchange.body);
  if (!serving) return {false, "gRPC " + serving.error()};
  return {serving.value() == static_cast<std::uint32_t>(GrpcServingStatus::Serving), "gRPC " + servingStatusName(serving.value())};
}

}  // namespace

asio::awaitable<ProbeVerdict> probeOverH2c(beast::tcp_stream& stream, const ProbeTarget& target) {
  const bool grpc = target.check.grpc.has_value();
  Exchange exchange;
  const SessionPtr session = newClientSession(exchange);
  if (!session) co_return ProbeVerdict{false, "HTTP/2 session: out of memory"};

  const std::string path = grpc ? std::string(kGrpcHealthCheckPath) : target.check.path;
  std::vector<nghttp2_nv> fields = {field(":method", grpc ? "POST" : "GET"), field(":scheme", "http"),
                                    field(":authority", target.address), field(":path", path),
                                    field("user-agent", "ringlb-operator/heartbeat")};
  nghttp2_data_provider body{};
  if (grpc) {
    fields.push_back(field("content-type", "application/grpc"));
    fields.push_back(field("te", "trailers"));
    exchange.requestBody = grpcHealthCheckRequestBody(target.check.grpc->service);
    body.read_callback = &Exchange::readRequestBody;
  }
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(session.get(), NGHTTP2_FLAG_NONE, settings, 1);
  exchange.streamId =
      nghttp2_submit_request(session.get(), nullptr, fields.data(), fields.size(), grpc ? &body : nullptr, nullptr);
  if (exchange.streamId < 0) {
    co_return ProbeVerdict{false, "HTTP/2 request: " + std::string(nghttp2_strerror(exchange.streamId))};
  }

  const auto timedOut = [&] { return "timed out after " + std::to_string(target.check.timeoutSeconds) + "s"; };
  std::array<std::uint8_t, 16 * 1024> readBuffer;
  beast::error_code ec;
  while (!exchange.closed) {
    for (;;) {  // the bytes mem_send returns are valid until its next call: write each batch before it
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session.get(), &data);
      if (n < 0) co_return ProbeVerdict{false, "HTTP/2: " + std::string(nghttp2_strerror(static_cast<int>(n)))};
      if (n == 0) break;
      co_await asio::async_write(stream, asio::buffer(data, static_cast<std::size_t>(n)),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ProbeVerdict{false, ec == beast::error::timeout ? timedOut() : "write: " + ec.message()};
    }
    if (exchange.closed) break;
    if (!nghttp2_session_want_read(session.get())) {
      if (exchange.goawayCode) {
        co_return ProbeVerdict{false, "the replica sent GOAWAY (" + std::string(nghttp2_http2_strerror(*exchange.goawayCode)) +
                                          ") before the response"};
      }
      // nghttp2 ended the session itself: what came back was no HTTP/2, e.g. an HTTP/1.1 status line.
      co_return ProbeVerdict{false, "HTTP/2 protocol error before the response (does the replica speak h2c?)"};
    }
    const std::size_t n =
        co_await stream.async_read_some(asio::buffer(readBuffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == beast::error::timeout) co_return ProbeVerdict{false, timedOut()};
    if (ec == asio::error::eof) co_return ProbeVerdict{false, "connection closed before the HTTP/2 response"};
    if (ec) co_return ProbeVerdict{false, "read: " + ec.message()};
    const auto consumed = nghttp2_session_mem_recv(session.get(), readBuffer.data(), n);
    if (consumed < 0) {
      // A server that answers in HTTP/1.1 lands here: its status line is no HTTP/2 frame.
      co_return ProbeVerdict{false, "HTTP/2: " + std::string(nghttp2_strerror(static_cast<int>(consumed))) +
                                        " (does the replica speak h2c?)"};
    }
  }
  co_return judge(exchange, grpc);
}

}  // namespace ringlb::op
