#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>

#include "asio_types.h"

// The draining receive drives Boost 1.74's epoll reactor through its internal
// reactor_op contract, checked for that version only. Any other Boost (or
// reactor) builds DrainAwareSocket as Asio's plain socket: correct, with the
// failed speculative reads of Asio's own receive.
#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING) && BOOST_VERSION == 107400
#define RINGLB_DRAINING_RECEIVE 1
#else
#define RINGLB_DRAINING_RECEIVE 0
#endif

namespace ringlb::proxy {

#if RINGLB_DRAINING_RECEIVE
namespace detail {

/// Asio's stream receive, except that a read which returns less than its
/// buffer reports the socket drained. Asio's epoll reactor then queues the
/// socket's next read until the next readiness edge instead of trying recv()
/// first (Boost 1.74 counts only end-of-stream as drained, so every read
/// after a request or response failed once with EAGAIN when issued early).
/// The edge cannot be missed: the reactor clears its "try first" flag inside
/// the same locked step that made the read, and any byte arriving after that
/// read raises a new edge (the descriptor is registered EPOLLET).
template <class Handler, class IoExecutor>
class DrainingReceiveOp : public asio::detail::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(DrainingReceiveOp);

  DrainingReceiveOp(asio::detail::socket_type socket, asio::mutable_buffer buffer, Handler& handler,
                    const IoExecutor& ioExecutor)
      : asio::detail::reactor_op(error_code(), &DrainingReceiveOp::perform, &DrainingReceiveOp::complete),
        socket_(socket),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, ioExecutor) {}

  static status perform(asio::detail::reactor_op* base) {
    auto* op = static_cast<DrainingReceiveOp*>(base);
    const bool finished = asio::detail::socket_ops::non_blocking_recv1(
        op->socket_, op->buffer_.data(), op->buffer_.size(), 0, true, op->ec_, op->bytes_transferred_);
    if (!finished) return not_done;
    return op->bytes_transferred_ < op->buffer_.size() ? done_and_exhausted : done;
  }

  static void complete(void* owner, asio::detail::operation* base, const error_code&, std::size_t) {
    auto* op = static_cast<DrainingReceiveOp*>(base);
    ptr p = {asio::detail::addressof(op->handler_), op, op};
    asio::detail::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    // The handler is moved out so the operation's memory is freed before the upcall.
    asio::detail::binder2<Handler, error_code, std::size_t> bound(op->handler_, op->ec_, op->bytes_transferred_);
    p.h = asio::detail::addressof(bound.handler_);
    p.reset();
    if (owner) {
      asio::detail::fenced_block fence(asio::detail::fenced_block::half);
      work.complete(bound, bound.handler_);
    }
  }

 private:
  asio::detail::socket_type socket_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
};

}  // namespace detail
#endif

/// The proxy's TCP socket: Asio's, whose single-buffer async_read_some does
/// not try a recv() that is bound to fail after the previous read drained the
/// socket (see detail::DrainingReceiveOp). Everything else is Asio's socket.
/// Single-threaded: used on its worker's io_context only.
class DrainAwareSocket : public TcpSocket {
 public:
  using TcpSocket::TcpSocket;
  /// Takes over an accepted socket.
  DrainAwareSocket(TcpSocket&& socket) noexcept : TcpSocket(std::move(socket)) {}  // NOLINT: implicit by design

#if RINGLB_DRAINING_RECEIVE

  /// Reads what is there, up to the buffers' size; completes with (error_code, bytes).
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if constexpr (std::is_convertible_v<const MutableBuffers&, asio::mutable_buffer>) {
      const asio::mutable_buffer buffer = buffers;
      if (buffer.size() != 0) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, asio::mutable_buffer into) { startDrainingReceive(std::move(handler), into); },
            token, buffer);  // Boost 1.74 takes the token as an lvalue
      }
    }
    return TcpSocket::async_read_some(buffers, std::forward<Token>(token));
  }

 private:
  template <class Handler>
  void startDrainingReceive(Handler handler, asio::mutable_buffer buffer) {
    using Op = detail::DrainingReceiveOp<Handler, Executor>;
    auto& socket = impl_.get_implementation();
    auto& reactor = asio::use_service<asio::detail::reactor>(get_executor().context());
    const bool continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(socket.socket_, buffer, handler, impl_.get_executor());
    // The reactor's speculative path needs the descriptor non-blocking, as Asio's own receive does.
    if ((socket.state_ & asio::detail::socket_ops::non_blocking) != 0 ||
        asio::detail::socket_ops::set_internal_non_blocking(socket.socket_, socket.state_, true, p.p->ec_)) {
      reactor.start_op(asio::detail::reactor::read_op, socket.socket_, socket.reactor_data_, p.p, continuation, true);
    } else {
      reactor.post_immediate_completion(p.p, continuation);
    }
    p.v = p.p = nullptr;
  }
#endif
};

}  // namespace ringlb::proxy
