#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <exception>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace ringlb::apod::testing {

template <class T>
boost::asio::awaitable<void> storeResult(boost::asio::awaitable<T> work, std::optional<T>& out) {
  out.emplace(co_await std::move(work));
}

/// Runs one coroutine to completion on a private io_context (no sockets) and returns its value.
template <class T>
T runAwaitable(boost::asio::awaitable<T> work) {
  boost::asio::io_context ioc;
  std::optional<T> result;
  std::exception_ptr failure;
  boost::asio::co_spawn(ioc, storeResult(std::move(work), result), [&failure](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

}  // namespace ringlb::apod::testing
