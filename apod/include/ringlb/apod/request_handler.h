#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ringlb::apod {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

/// What the HTTP server calls for every request. Implementations must not throw.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;

  /// Answers one complete request. Called on the connection's strand; concurrent calls for
  /// different connections happen on different threads. The response's keep-alive is decided by
  /// the server afterwards.
  virtual boost::asio::awaitable<HttpResponse> handle(HttpRequest request) = 0;

  /// The response for a request the server rejected before it was complete (400 malformed,
  /// 413 body too large, 431 header too large). Called on the connection's strand.
  virtual HttpResponse reject(boost::beast::http::status status, std::string_view reason) = 0;
};

}  // namespace ringlb::apod
