#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility> under GCC 12.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ringlb::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

/// Every I/O object of a worker is bound to its own io_context's concrete
/// executor: no type-erased executor on the request path.
using Executor = asio::io_context::executor_type;
template <class T = void>
using Task = asio::awaitable<T, Executor>;
inline constexpr asio::use_awaitable_t<Executor> kUseTask{};
using TcpSocket = asio::basic_stream_socket<asio::ip::tcp, Executor>;
using TcpAcceptor = asio::basic_socket_acceptor<asio::ip::tcp, Executor>;
using SteadyTimer =
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, Executor>;

/// Completion token for coroutines that report errors through `ec` instead
/// of throwing (the data plane never throws).
inline auto noThrow(error_code& ec) { return asio::redirect_error(kUseTask, ec); }

}  // namespace ringlb::proxy
