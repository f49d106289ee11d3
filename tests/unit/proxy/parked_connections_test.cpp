#include "parked_connections.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <vector>

#include <gtest/gtest.h>

namespace ringlb::proxy {
namespace {

/// A connected pair of local stream sockets: `parked` goes to ParkedConnections, `client` stays here.
struct SocketPair {
  int parked = -1;
  int client = -1;

  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) throw std::system_error(errno, std::generic_category());
    parked = fds[0];
    client = fds[1];
  }
  ~SocketPair() {
    if (client >= 0) ::close(client);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;

  /// Whether the peer closed its end (a read sees end of stream).
  bool closedByPeer() const {
    char byte = 0;
    return ::recv(client, &byte, 1, MSG_DONTWAIT) == 0;
  }
};

struct Woken {
  int fd;
  ClientAddress address;
  std::int64_t deadline;
};

class ParkedConnectionsTest : public ::testing::Test {
 protected:
  ParkedConnectionsTest()
      : parked_(ioc_, open_, parkedGauge_, [this](int fd, const ClientAddress& address, std::int64_t deadline) {
          woken_.push_back({fd, address, deadline});
        }) {}
  ~ParkedConnectionsTest() override {
    for (const auto& w : woken_) ::close(w.fd);
  }

  /// Runs the handlers ready now (no blocking), as a pass of the worker's loop.
  void runReady() {
    ioc_.restart();
    ioc_.poll();
  }

  asio::io_context ioc_;
  std::atomic<std::int64_t> open_{0};
  std::atomic<std::int64_t> parkedGauge_{0};
  std::vector<Woken> woken_;
  ParkedConnections parked_;
};

TEST(ClientAddressTest, KeepsIpv4AndIpv6TextThroughItsCompactForm) {
  for (const char* text : {"127.0.0.1", "203.0.113.9", "::1", "2001:db8::42"}) {
    std::array<char, 46> out{};
    const auto length = ClientAddress::parse(text).format(out);
    EXPECT_EQ(std::string_view(out.data(), length), text);
  }
  std::array<char, 46> out{};
  const auto length = ClientAddress::parse("not an address").format(out);
  EXPECT_EQ(std::string_view(out.data(), length), "0.0.0.0");
}

TEST_F(ParkedConnectionsTest, AParkedConnectionIsWokenByItsNextBytesWithItsRecord) {
  SocketPair pair;
  ASSERT_FALSE(parked_.park(pair.parked, ClientAddress::parse("192.0.2.7"), 1234));
  EXPECT_EQ(parked_.size(), 1u);
  EXPECT_EQ(open_.load(), 1);
  EXPECT_EQ(parkedGauge_.load(), 1);
  runReady();
  EXPECT_TRUE(woken_.empty()) << "nothing to read yet";

  ASSERT_EQ(::write(pair.client, "GET", 3), 3);
  runReady();
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(woken_[0].fd, pair.parked);
  EXPECT_EQ(woken_[0].deadline, 1234);
  std::array<char, 46> text{};
  EXPECT_EQ(std::string_view(text.data(), woken_[0].address.format(text)), "192.0.2.7");
  EXPECT_EQ(parked_.size(), 0u);
  EXPECT_EQ(open_.load(), 0) << "the session rebuilt from it counts it again";
  EXPECT_EQ(parkedGauge_.load(), 0);
  char got[3];
  EXPECT_EQ(::read(woken_[0].fd, got, sizeof got), 3) << "the bytes are left for the session";
}

TEST_F(ParkedConnectionsTest, BytesThatArrivedBeforeParkingWakeAtOnce) {
  SocketPair pair;
  ASSERT_EQ(::write(pair.client, "G", 1), 1);  // between the session's last look and the park
  ASSERT_FALSE(parked_.park(pair.parked, ClientAddress::parse("127.0.0.1"), 1));
  runReady();
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(woken_[0].fd, pair.parked);
}

TEST_F(ParkedConnectionsTest, AClientsCloseWakesItsRecordSoTheSessionSeesTheEnd) {
  SocketPair pair;
  ASSERT_FALSE(parked_.park(pair.parked, ClientAddress::parse("127.0.0.1"), 1));
  ::close(pair.client);
  pair.client = -1;
  runReady();
  ASSERT_EQ(woken_.size(), 1u);
}

TEST_F(ParkedConnectionsTest, AWokenConnectionParksAgainAndWakesAgain) {
  SocketPair pair;
  char byte;
  for (int round = 0; round < 3; ++round) {
    ASSERT_FALSE(parked_.park(pair.parked, ClientAddress::parse("127.0.0.1"), round));
    runReady();
    EXPECT_EQ(woken_.size(), static_cast<std::size_t>(round)) << "parked again, silent until new bytes";
    ASSERT_EQ(::write(pair.client, "x", 1), 1);
    runReady();
    ASSERT_EQ(woken_.size(), static_cast<std::size_t>(round + 1));
    ASSERT_EQ(::read(pair.parked, &byte, 1), 1);  // the session consumed the request
  }
  woken_.clear();  // all three are pair.parked
  ::close(pair.parked);
}

TEST_F(ParkedConnectionsTest, ADescriptorNumberReusedByANewConnectionParksAfresh) {
  int reused = -1;
  {
    SocketPair first;
    ASSERT_FALSE(parked_.park(first.parked, ClientAddress::parse("127.0.0.1"), 1));
    ASSERT_EQ(::write(first.client, "x", 1), 1);
    runReady();
    ASSERT_EQ(woken_.size(), 1u);
    reused = woken_[0].fd;
    ::close(reused);  // the session ends; the kernel drops the registration
    woken_.clear();
  }
  SocketPair second;
  ASSERT_EQ(second.parked, reused) << "the lowest free descriptor";
  ASSERT_FALSE(parked_.park(second.parked, ClientAddress::parse("127.0.0.1"), 2));
  ASSERT_EQ(::write(second.client, "y", 1), 1);
  runReady();
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(woken_[0].deadline, 2);
}

TEST_F(ParkedConnectionsTest, TheWatchdogClosesOnlyExpiredRecordsFromTheFront) {
  SocketPair a, b, c;
  ASSERT_FALSE(parked_.park(a.parked, ClientAddress::parse("127.0.0.1"), 100));
  ASSERT_FALSE(parked_.park(b.parked, ClientAddress::parse("127.0.0.1"), 200));
  ASSERT_FALSE(parked_.park(c.parked, ClientAddress::parse("127.0.0.1"), 300));
  EXPECT_EQ(parked_.closeExpired(99), 0u);
  EXPECT_EQ(parked_.closeExpired(200), 2u);
  EXPECT_TRUE(a.closedByPeer());
  EXPECT_TRUE(b.closedByPeer());
  EXPECT_FALSE(c.closedByPeer());
  EXPECT_EQ(parked_.size(), 1u);
  EXPECT_EQ(open_.load(), 1);
  EXPECT_EQ(parkedGauge_.load(), 1);
  // The survivor still wakes.
  ASSERT_EQ(::write(c.client, "x", 1), 1);
  runReady();
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(woken_[0].fd, c.parked);
}

TEST_F(ParkedConnectionsTest, AWokenRecordLeavesTheMiddleOfTheOrderIntact) {
  SocketPair a, b, c;
  ASSERT_FALSE(parked_.park(a.parked, ClientAddress::parse("127.0.0.1"), 100));
  ASSERT_FALSE(parked_.park(b.parked, ClientAddress::parse("127.0.0.1"), 200));
  ASSERT_FALSE(parked_.park(c.parked, ClientAddress::parse("127.0.0.1"), 300));
  ASSERT_EQ(::write(b.client, "x", 1), 1);
  runReady();
  ASSERT_EQ(woken_.size(), 1u);
  EXPECT_EQ(parked_.closeExpired(1000), 2u);
  EXPECT_TRUE(a.closedByPeer());
  EXPECT_FALSE(b.closedByPeer()) << "woken: its session's now";
  EXPECT_TRUE(c.closedByPeer());
  EXPECT_EQ(open_.load(), 0);
}

TEST_F(ParkedConnectionsTest, ADrainClosesEveryRecordAndManyWakeInOnePass) {
  std::vector<std::unique_ptr<SocketPair>> pairs;
  for (int i = 0; i < 150; ++i) {  // more than one epoll_wait batch
    pairs.push_back(std::make_unique<SocketPair>());
    ASSERT_FALSE(parked_.park(pairs.back()->parked, ClientAddress::parse("127.0.0.1"), 1));
  }
  for (int i = 0; i < 150; i += 2) ASSERT_EQ(::write(pairs[static_cast<std::size_t>(i)]->client, "x", 1), 1);
  runReady();
  EXPECT_EQ(woken_.size(), 75u);
  EXPECT_EQ(parked_.size(), 75u);
  parked_.closeAll();
  EXPECT_EQ(parked_.size(), 0u);
  EXPECT_EQ(open_.load(), 0);
  EXPECT_EQ(parkedGauge_.load(), 0);
  for (int i = 1; i < 150; i += 2) EXPECT_TRUE(pairs[static_cast<std::size_t>(i)]->closedByPeer());
}

TEST_F(ParkedConnectionsTest, AFailedRegistrationClosesTheConnectionAndSaysWhy) {
  const int notASocket = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // epoll refuses regular files
  ASSERT_GE(notASocket, 0);
  const auto failure = parked_.park(notASocket, ClientAddress::parse("127.0.0.1"), 1);
  EXPECT_EQ(failure, error_code(EPERM, asio::error::get_system_category()));
  EXPECT_EQ(::fcntl(notASocket, F_GETFD), -1) << "closed";
  EXPECT_EQ(parked_.size(), 0u);
  EXPECT_EQ(open_.load(), 0);
}

}  // namespace
}  // namespace ringlb::proxy
