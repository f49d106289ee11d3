#include "ringlb/apod/upstream_client.h"

#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>

namespace ringlb::apod {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kUserAgent = "ringlb-apod/0.1";

Error stepError(std::string_view step, const beast::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
    return Error{std::string(step) + ": timed out after " + std::to_string(timeout.count()) + " ms"};
  }
  return Error{std::string(step) + ": " + ec.message()};
}

// Writes the request and reads the response on an established (and, for TLS, handshaken) stream.
template <class Stream>
asio::awaitable<Result<UpstreamResponse>> exchange(Stream& stream, const http::request<http::empty_body>& request,
                                                   Clock::time_point deadline, std::chrono::milliseconds timeout) {
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return stepError("write", ec, timeout);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(UpstreamClient::kMaxBodyBytes);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return stepError("read", ec, timeout);
  auto response = parser.release();
  co_return UpstreamResponse{response.result_int(), std::move(response.body())};
}

}  // namespace

UpstreamClient::UpstreamClient(UpstreamUrl url, std::chrono::milliseconds timeout,
                               std::shared_ptr<asio::ssl::context> tls)
    : url_{std::move(url)}, timeout_{timeout}, tls_{std::move(tls)} {}

std::shared_ptr<asio::ssl::context> UpstreamClient::makeTlsContext(const std::string& caFile) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  context->set_default_verify_paths();
  if (!caFile.empty()) context->load_verify_file(caFile);
  context->set_verify_mode(asio::ssl::verify_peer);
  return context;
}

asio::awaitable<Result<UpstreamResponse>> UpstreamClient::get(std::string pathAndQuery) {
  const auto executor = co_await asio::this_coro::executor;
  const auto deadline = Clock::now() + timeout_;
  beast::error_code ec;

  // The resolver has no deadline of its own: a timer cancels it. Both live in shared state
  // because the timer's handler may run after this frame has moved on.
  auto resolver = std::make_shared<tcp::resolver>(executor);
  auto guard = std::make_shared<asio::steady_timer>(executor, deadline);
  guard->async_wait([resolver](const beast::error_code& waitError) {
    if (!waitError) resolver->cancel();
  });
  const auto endpoints = co_await resolver->async_resolve(url_.host, std::to_string(url_.port),
                                                          asio::redirect_error(asio::use_awaitable, ec));
  guard->cancel();
  if (ec) co_return stepError("resolve " + url_.host, ec, timeout_);

  http::request<http::empty_body> request{http::verb::get, url_.basePath + pathAndQuery, 11};
  request.set(http::field::host, url_.hostHeader());
  request.set(http::field::user_agent, kUserAgent);
  request.set(http::field::accept, "application/json");
  request.keep_alive(false);

  if (!url_.tls) {
    beast::tcp_stream stream{executor};
    stream.expires_at(deadline);
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return stepError("connect " + url_.hostHeader(), ec, timeout_);
    auto result = co_await exchange(stream, request, deadline, timeout_);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return result;
  }

  if (!tls_) co_return Error{"https upstream without a TLS context"};
  beast::ssl_stream<beast::tcp_stream> stream{executor, *tls_};
  // SNI, unless the host is an IP literal (RFC 6066 forbids those in SNI).
  beast::error_code addressError;
  asio::ip::make_address(url_.host, addressError);
  if (addressError && !SSL_set_tlsext_host_name(stream.native_handle(), url_.host.c_str())) {
    co_return Error{"tls: cannot set SNI host name " + url_.host};
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(url_.host));
  beast::get_lowest_layer(stream).expires_at(deadline);
  co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return stepError("connect " + url_.hostHeader(), ec, timeout_);
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return stepError("tls handshake with " + url_.hostHeader(), ec, timeout_);
  auto result = co_await exchange(stream, request, deadline, timeout_);
  // No TLS close_notify exchange: the response is complete and a slow peer must not hold us.
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return result;
}

}  // namespace ringlb::apod
