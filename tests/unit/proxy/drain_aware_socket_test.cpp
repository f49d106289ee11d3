// DrainAwareSocket: a read after one that drained the socket makes no recv()
// until bytes arrive, and still sees every byte. recv() is counted per
// descriptor by interposing it in this test binary (Asio's header-only socket
// code calls ::recv for a single buffer), so the suite has a binary of its own.
#include "drain_aware_socket.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

namespace {

std::atomic<int> countedDescriptor{-1};
std::atomic<int> recvCalls{0};

}  // namespace

extern "C" ssize_t recv(int fd, void* data, size_t size, int flags) {
  using RecvFunction = ssize_t (*)(int, void*, size_t, int);
  static const auto libcRecv = reinterpret_cast<RecvFunction>(dlsym(RTLD_NEXT, "recv"));
  if (fd == countedDescriptor.load()) recvCalls.fetch_add(1);
  return libcRecv(fd, data, size, flags);
}

namespace ringlb::proxy {
namespace {

using namespace std::chrono_literals;

// A connected loopback pair: `peer` writes, `socket` (of type SocketType) reads.
template <class SocketType>
struct LoopbackPair {
  asio::io_context ioc;
  SocketType socket{ioc.get_executor()};
  TcpSocket peer{ioc.get_executor()};

  LoopbackPair() {
    TcpAcceptor acceptor(ioc.get_executor(), {asio::ip::address_v4::loopback(), 0});
    peer.connect(acceptor.local_endpoint());
    TcpSocket accepted(ioc.get_executor());
    acceptor.accept(accepted);
    socket = SocketType(std::move(accepted));
    countedDescriptor = socket.native_handle();
    recvCalls = 0;
  }
  ~LoopbackPair() { countedDescriptor = -1; }

  // Runs what is ready. The loop stops whenever it runs out of work, so restart first.
  void poll() {
    ioc.restart();
    ioc.poll();
  }

  // On loopback the bytes are in the receiver's queue when write() returns.
  void send(std::string_view bytes) { asio::write(peer, asio::buffer(bytes.data(), bytes.size())); }
};

struct ReadResult {
  error_code ec;
  std::string bytes;
};

// Starts one read into `buffer`; the result lands in `result` when it completes.
template <class SocketType, std::size_t N>
void startRead(SocketType& socket, std::array<char, N>& buffer, std::optional<ReadResult>& result,
               std::size_t limit = N) {
  result.reset();
  socket.async_read_some(asio::buffer(buffer.data(), limit), [&buffer, &result](error_code ec, std::size_t n) {
    result = ReadResult{ec, std::string(buffer.data(), n)};
  });
}

// Runs the loop until the read completes (bounded, so a lost wakeup fails instead of hanging).
template <class SocketType>
void runUntilDone(LoopbackPair<SocketType>& pair, const std::optional<ReadResult>& result) {
  for (int i = 0; i < 1000 && !result; ++i) {
    pair.ioc.restart();
    pair.ioc.run_one_for(10ms);
  }
}

// Starts one read and runs the loop until it completes.
template <class SocketType, std::size_t N>
void readToCompletion(LoopbackPair<SocketType>& pair, std::array<char, N>& buffer, std::optional<ReadResult>& result,
                      std::size_t limit = N) {
  startRead(pair.socket, buffer, result, limit);
  runUntilDone(pair, result);
}

TEST(DrainAwareSocket, AReadAfterAShortReadWaitsForBytesWithoutTryingFirst) {
  LoopbackPair<DrainAwareSocket> pair;
  std::array<char, 64> buffer{};
  std::optional<ReadResult> result;
  pair.send("hello");
  readToCompletion(pair, buffer, result);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->bytes, "hello");  // 5 of 64: the socket is drained

  recvCalls = 0;
  startRead(pair.socket, buffer, result);
  pair.poll();
  EXPECT_FALSE(result);
  // On a Boost whose reactor it does not drive, the socket is Asio's: one failed try.
  constexpr int kFailedTries = RINGLB_DRAINING_RECEIVE ? 0 : 1;
  EXPECT_EQ(recvCalls.load(), kFailedTries) << "a read issued on a drained socket tried recv() first";

  pair.send("world");
  runUntilDone(pair, result);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ec);
  EXPECT_EQ(result->bytes, "world");
  EXPECT_EQ(recvCalls.load(), kFailedTries + 1);
}

// Why the class exists: Asio's own socket fails one recv() with EAGAIN there.
TEST(DrainAwareSocket, AsiosSocketTriesAndFailsTheSameRead) {
  LoopbackPair<TcpSocket> pair;
  std::array<char, 64> buffer{};
  std::optional<ReadResult> result;
  pair.send("hello");
  readToCompletion(pair, buffer, result);
  ASSERT_TRUE(result);

  recvCalls = 0;
  startRead(pair.socket, buffer, result);
  pair.poll();
  EXPECT_FALSE(result);
  EXPECT_EQ(recvCalls.load(), 1);
  pair.socket.cancel();
  runUntilDone(pair, result);
}

TEST(DrainAwareSocket, BytesArrivingBetweenReadsAreNotMissed) {
  LoopbackPair<DrainAwareSocket> pair;
  std::array<char, 64> buffer{};
  std::optional<ReadResult> result;
  pair.send("first");
  readToCompletion(pair, buffer, result);
  ASSERT_TRUE(result);

  // The bytes come, and the loop handles their readiness edge, while no read is pending.
  pair.send("second");
  pair.poll();
  readToCompletion(pair, buffer, result);
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ec);
  EXPECT_EQ(result->bytes, "second");

  // And the same when the read is issued before the loop has seen the edge.
  pair.send("third");
  readToCompletion(pair, buffer, result);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->bytes, "third");
}

TEST(DrainAwareSocket, AReadThatFillsItsBufferTriesTheNextOneAtOnce) {
  LoopbackPair<DrainAwareSocket> pair;
  std::array<char, 64> buffer{};
  std::optional<ReadResult> result;
  pair.send("0123456789abcdef");
  readToCompletion(pair, buffer, result, 10);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->bytes, "0123456789");

  // A full buffer says nothing about what is left, so the next read tries at once.
  recvCalls = 0;
  startRead(pair.socket, buffer, result, 10);
  EXPECT_EQ(recvCalls.load(), 1);
  pair.poll();
  ASSERT_TRUE(result);
  EXPECT_EQ(result->bytes, "abcdef");
}

TEST(DrainAwareSocket, AWaitingReadEndsOnCancelAndOnEndOfStream) {
  LoopbackPair<DrainAwareSocket> pair;
  std::array<char, 64> buffer{};
  std::optional<ReadResult> result;
  pair.send("x");
  readToCompletion(pair, buffer, result);
  ASSERT_TRUE(result);

  startRead(pair.socket, buffer, result);
  pair.poll();
  pair.socket.cancel();
  runUntilDone(pair, result);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->ec, asio::error::operation_aborted);

  startRead(pair.socket, buffer, result);
  pair.poll();
  pair.peer.shutdown(asio::socket_base::shutdown_send);
  runUntilDone(pair, result);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->ec, asio::error::eof);
}

TEST(DrainAwareSocket, CoroutinesReadThroughItAsThroughAsiosSocket) {
  LoopbackPair<DrainAwareSocket> pair;
  std::string got;
  error_code lastError;
  asio::co_spawn(
      pair.ioc,
      [&]() -> Task<void> {
        std::array<char, 8> buffer{};
        for (;;) {
          error_code ec;
          const auto n = co_await pair.socket.async_read_some(asio::buffer(buffer), noThrow(ec));
          if (ec) {
            lastError = ec;
            co_return;
          }
          got.append(buffer.data(), n);
        }
      },
      asio::detached);
  pair.poll();
  for (const std::string_view piece : {"GET / HTTP/1.1\r\n", "Host: a\r\n", "\r\n"}) {
    pair.send(piece);
    pair.poll();
  }
  pair.peer.shutdown(asio::socket_base::shutdown_send);
  for (int i = 0; i < 1000 && !lastError; ++i) {
    pair.ioc.restart();
    pair.ioc.run_one_for(10ms);
  }
  EXPECT_EQ(got, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(lastError, asio::error::eof);
}

}  // namespace
}  // namespace ringlb::proxy
