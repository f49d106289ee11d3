#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ringlb::op::testing {

/// An HTTP/1.1 server on 127.0.0.1 (port 0) that answers each request with a
/// test's handler, optionally over TLS. The certificate and key files are read
/// at every accept, so a test rotates the server's certificate by replacing
/// them. Serves on its own thread; records what it was asked.
class LocalApiServer {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::string authorization;
    std::chrono::steady_clock::time_point at;
  };
  using Response = boost::beast::http::response<boost::beast::http::string_body>;
  using Handler = std::function<Response(const Request&)>;
  struct TlsFiles {
    std::filesystem::path certificate;
    std::filesystem::path key;
    std::filesystem::path clientCa;  // when set, a client certificate this CA signed is required
  };

  explicit LocalApiServer(Handler handler, std::optional<TlsFiles> tls = std::nullopt)
      : handler_(std::move(handler)), tls_(std::move(tls)), acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    boost::asio::co_spawn(ioc_, accept(), boost::asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~LocalApiServer() {
    ioc_.stop();
    thread_.join();
  }
  LocalApiServer(const LocalApiServer&) = delete;
  LocalApiServer& operator=(const LocalApiServer&) = delete;

  std::uint16_t port() const { return port_; }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  /// A plain answer with `status`, a JSON body and optional extra headers.
  static Response answer(int status, std::string body = "{}",
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    Response response{static_cast<boost::beast::http::status>(status), 11};
    response.set(boost::beast::http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) response.set(name, value);
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  boost::asio::awaitable<void> accept() {
    for (;;) {
      boost::beast::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
      if (tls_) {
        boost::asio::co_spawn(ioc_, serveTls(std::move(socket)), boost::asio::detached);
      } else {
        boost::asio::co_spawn(ioc_, servePlain(std::move(socket)), boost::asio::detached);
      }
    }
  }

  boost::asio::awaitable<void> serveTls(tcp::socket socket) {
    namespace ssl = boost::asio::ssl;
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    boost::beast::error_code ec;
    context->use_certificate_chain_file(tls_->certificate.string(), ec);
    context->use_private_key_file(tls_->key.string(), ssl::context::pem, ec);
    if (!tls_->clientCa.empty()) {
      context->load_verify_file(tls_->clientCa.string(), ec);
      context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
    ssl::stream<tcp::socket> stream(std::move(socket), *context);
    co_await stream.async_handshake(ssl::stream_base::server, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (ec) co_return;
    co_await serve(stream);
  }

  boost::asio::awaitable<void> servePlain(tcp::socket socket) {
    co_await serve(socket);
  }

  template <class Stream>
  boost::asio::awaitable<void> serve(Stream& stream) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      boost::beast::error_code ec;
      co_await http::async_read(stream, buffer, request, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
      Request seen{std::string(request.method_string()), std::string(request.target()),
                   std::string(request[http::field::authorization]), std::chrono::steady_clock::now()};
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(seen);
      }
      Response response = handler_(seen);
      // Over TLS every answer closes its connection, so each request shows
      // which CA the client trusts at that moment.
      response.keep_alive(!tls_ && request.keep_alive());
      co_await http::async_write(stream, response, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec || !response.keep_alive()) co_return;
    }
  }

  Handler handler_;
  std::optional<TlsFiles> tls_;
  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
};

}  // namespace ringlb::op::testing
