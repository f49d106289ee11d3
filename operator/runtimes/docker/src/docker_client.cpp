#include "ringlb/operator/docker_client.h"

// <utility> before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <exception>
#include <limits>

namespace ringlb::op {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

using UnixStream = beast::basic_stream<asio::local::stream_protocol>;
using TcpStream = beast::tcp_stream;

// Docker answers lists of every container; anything larger is not an answer we expect.
constexpr std::uint64_t kBodyLimit = 64U * 1024U * 1024U;
constexpr std::size_t kErrorBodyLimit = 64U * 1024U;

std::string describeFailure(const DockerEndpoint& endpoint, std::string_view stage, const error_code& ec) {
  std::string text = "cannot " + std::string(stage) + " the Docker daemon at " + endpoint.describe() + ": ";
  if (ec == beast::error::timeout) {
    text += "timed out";
  } else {
    text += ec.message();
  }
  if (stage == "connect to") text += " (is dockerd running, and may this user use it?)";
  return text;
}

// A transport failure: a timeout is worth a quick retry; anything else means
// the daemon cannot be reached.
Error transportError(const DockerEndpoint& endpoint, std::string_view stage, const error_code& ec) {
  std::string text = describeFailure(endpoint, stage, ec);
  if (ec == beast::error::timeout) return Error::transient(std::move(text));
  return Error::unavailable(std::move(text));
}

asio::awaitable<error_code> connectStream(UnixStream& stream, const DockerEndpoint& endpoint) {
  error_code ec;
  co_await stream.async_connect(asio::local::stream_protocol::endpoint(endpoint.path),
                                asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

asio::awaitable<error_code> connectStream(TcpStream& stream, const DockerEndpoint& endpoint) {
  error_code ec;
  asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
  auto results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                 asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  co_await stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

http::request<http::string_body> makeRequest(const DockerEndpoint& endpoint, http::verb method,
                                             std::string_view target, std::string body) {
  http::request<http::string_body> req;
  req.method(method);
  req.target("/" + std::string(DockerClient::kApiVersion) + std::string(target));
  req.version(11);
  // The daemon ignores Host on its socket, but HTTP/1.1 requires one.
  req.set(http::field::host, endpoint.kind == DockerEndpoint::Kind::Unix ? std::string("docker")
                                                                          : endpoint.host + ":" + std::to_string(endpoint.port));
  req.set(http::field::user_agent, "ringlb-operator");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.prepare_payload();
  return req;
}

// Connects `stream` and writes `req`; the error names the stage that failed.
template <class Stream>
asio::awaitable<Status> connectAndSend(Stream& stream, const DockerEndpoint& endpoint,
                                       http::request<http::string_body>& req) {
  error_code ec = co_await connectStream(stream, endpoint);
  if (ec) co_return transportError(endpoint, "connect to", ec);
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return transportError(endpoint, "send a request to", ec);
  co_return ok();
}

template <class Stream>
asio::awaitable<void> exchange(const DockerEndpoint& endpoint, http::request<http::string_body> req,
                               std::chrono::milliseconds timeout, Result<DockerResponse>& out) {
  Stream stream(co_await asio::this_coro::executor);
  // One deadline for the whole exchange: connect, write and read.
  stream.expires_after(timeout);
  if (Status sent = co_await connectAndSend(stream, endpoint, req); !sent) {
    out = sent.failure();
    co_return;
  }
  error_code ec;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out = transportError(endpoint, "read the answer of", ec);
    co_return;
  }
  auto response = parser.release();
  out = DockerResponse{response.result_int(), std::move(response.body())};
  error_code ignored;
  stream.socket().shutdown(Stream::socket_type::shutdown_both, ignored);
}

template <class Stream>
asio::awaitable<void> streamBody(const DockerEndpoint& endpoint, http::request<http::string_body> req,
                                 std::chrono::milliseconds connectTimeout, const std::function<void()>& onOpen,
                                 const std::function<void(std::string_view)>& onData, Status& out) {
  Stream stream(co_await asio::this_coro::executor);
  stream.expires_after(connectTimeout);
  out = co_await connectAndSend(stream, endpoint, req);
  if (!out) co_return;
  error_code ec;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  // Not boost::none: Boost 1.74 compares a Content-Length against an empty
  // optional as "over the limit".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    out = transportError(endpoint, "read the answer of", ec);
    co_return;
  }
  const unsigned status = parser.get().result_int();
  std::array<char, 16384> chunk{};
  std::string errorBody;
  // A watch is quiet for as long as nothing happens: no deadline once it is open.
  if (status == 200) {
    stream.expires_never();
    if (onOpen) onOpen();
  }
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    // read_some, not read: an event must be delivered when it arrives, not when a buffer fills.
    co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t n = chunk.size() - parser.get().body().size;
    if (n > 0) {
      if (status == 200) {
        onData(std::string_view(chunk.data(), n));
      } else if (errorBody.size() < kErrorBodyLimit) {
        errorBody.append(chunk.data(), n);
      }
    }
    if (ec) break;
  }
  if (status != 200) {
    out = DockerResponse{status, errorBody}.error("Docker daemon at " + endpoint.describe() + " answered " +
                                                  std::to_string(status) + " to " + std::string(req.target()));
  } else if (ec && ec != http::error::end_of_stream) {
    out = transportError(endpoint, "keep watching", ec);
  } else {
    out = Error::unavailable("the Docker daemon at " + endpoint.describe() + " closed the stream " +
                             std::string(req.target()));
  }
}

// Runs one coroutine to completion on a private io_context. Anything thrown
// inside (allocation failure) becomes an Error rather than escaping.
template <class ResultT, class Coroutine>
void runOnContext(asio::io_context& context, Coroutine coroutine, ResultT& out) {
  asio::co_spawn(context, std::move(coroutine), [&out](const std::exception_ptr& failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      out = Error::internal(std::string("Docker client failure: ") + e.what());
    }
  });
  context.run();
}

}  // namespace

std::string DockerResponse::message() const {
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    if (const auto it = parsed.find("message"); it != parsed.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  std::string text = body;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "HTTP " + std::to_string(status) : text;
}

ErrorKind dockerErrorKind(unsigned status) noexcept {
  switch (status) {
    case 400: return ErrorKind::Invalid;
    case 404: return ErrorKind::NotFound;
    case 409: return ErrorKind::Conflict;
    case 408:
    case 429: return ErrorKind::Transient;
    default: return status >= 500 ? ErrorKind::Unavailable : ErrorKind::Internal;
  }
}

Error DockerResponse::error(std::string_view what) const {
  return {std::string(what) + ": " + message(), dockerErrorKind(status)};
}

void DockerStreamCancel::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  if (context_ != nullptr) context_->stop();
}

bool DockerStreamCancel::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

bool DockerStreamCancel::attach(asio::io_context* context) {
  std::lock_guard lock(mutex_);
  if (cancelled_) return false;
  context_ = context;
  return true;
}

void DockerStreamCancel::detach() {
  std::lock_guard lock(mutex_);
  context_ = nullptr;
}

DockerClient::DockerClient(DockerEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

Result<DockerResponse> DockerClient::request(std::string_view method, std::string_view target, std::string body,
                                             std::optional<std::chrono::milliseconds> timeout) const {
  const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) return Error::internal("unknown HTTP method '" + std::string(method) + "'");
  auto req = makeRequest(endpoint_, verb, target, std::move(body));
  Result<DockerResponse> out = Error::internal("Docker request " + std::string(target) + " did not complete");
  asio::io_context context;
  if (endpoint_.kind == DockerEndpoint::Kind::Unix) {
    runOnContext(context, exchange<UnixStream>(endpoint_, std::move(req), timeout.value_or(timeout_), out), out);
  } else {
    runOnContext(context, exchange<TcpStream>(endpoint_, std::move(req), timeout.value_or(timeout_), out), out);
  }
  return out;
}

Status DockerClient::stream(std::string_view target, const std::function<void()>& onOpen,
                            const std::function<void(std::string_view)>& onData, DockerStreamCancel& cancel,
                            std::optional<std::chrono::milliseconds> connectTimeout) const {
  auto req = makeRequest(endpoint_, http::verb::get, target, {});
  Status out = Error::internal("Docker stream " + std::string(target) + " did not complete");
  asio::io_context context;
  if (!cancel.attach(&context)) return ok();
  if (endpoint_.kind == DockerEndpoint::Kind::Unix) {
    runOnContext(context, streamBody<UnixStream>(endpoint_, std::move(req), connectTimeout.value_or(timeout_), onOpen, onData, out), out);
  } else {
    runOnContext(context, streamBody<TcpStream>(endpoint_, std::move(req), connectTimeout.value_or(timeout_), onOpen, onData, out), out);
  }
  cancel.detach();
  if (cancel.cancelled()) return ok();
  return out;
}

}  // namespace ringlb::op
