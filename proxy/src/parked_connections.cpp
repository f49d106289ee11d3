#include "parked_connections.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <system_error>
#include <unistd.h>

namespace ringlb::proxy {

ClientAddress ClientAddress::parse(std::string_view text) noexcept {
  ClientAddress address;
  std::array<char, 47> terminated{};
  if (text.size() >= terminated.size()) return address;
  std::memcpy(terminated.data(), text.data(), text.size());
  address.v6 = text.find(':') != std::string_view::npos;
  if (::inet_pton(address.v6 ? AF_INET6 : AF_INET, terminated.data(), address.bytes.data()) != 1) return ClientAddress{};
  return address;
}

std::size_t ClientAddress::format(std::array<char, 46>& out) const noexcept {
  if (::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), out.data(), static_cast<socklen_t>(out.size())) == nullptr) {
    return 0;
  }
  return std::strlen(out.data());
}

namespace {

int createEpoll() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1 for parked connections");
  return fd;
}

}  // namespace

ParkedConnections::ParkedConnections(asio::io_context& ioc, std::atomic<std::int64_t>& open,
                                     std::atomic<std::int64_t>& parked, Wake wake)
    : epoll_(ioc.get_executor(), createEpoll()), open_(open), parked_(parked), wake_(std::move(wake)) {
  awaitReadable();
}

ParkedConnections::~ParkedConnections() { closeAll(); }

error_code ParkedConnections::park(int fd, const ClientAddress& address, std::int64_t deadline) noexcept {
  if (fd < 0) return asio::error::bad_descriptor;
  // One-shot and level-triggered: bytes already queued report at once, and a
  // woken descriptor stays registered but silent, so parking it again is one MOD.
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  event.data.fd = fd;
  int result = ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_MOD, fd, &event);
  if (result != 0 && errno == ENOENT) result = ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &event);
  if (result != 0) {
    const error_code failure(errno, asio::error::get_system_category());
    ::close(fd);
    return failure;
  }
  if (static_cast<std::size_t>(fd) >= records_.size()) records_.resize(static_cast<std::size_t>(fd) + 1);
  Record& record = records_[static_cast<std::size_t>(fd)];
  record.deadline = deadline;
  record.address = address;
  record.parked = true;
  record.prev = tail_;
  record.next = kNone;
  if (tail_ != kNone) records_[static_cast<std::size_t>(tail_)].next = fd;
  else head_ = fd;
  tail_ = fd;
  ++count_;
  open_.fetch_add(1, std::memory_order_relaxed);
  parked_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void ParkedConnections::unlink(int fd) noexcept {
  Record& record = records_[static_cast<std::size_t>(fd)];
  if (record.prev != kNone) records_[static_cast<std::size_t>(record.prev)].next = record.next;
  else head_ = record.next;
  if (record.next != kNone) records_[static_cast<std::size_t>(record.next)].prev = record.prev;
  else tail_ = record.prev;
  record.prev = record.next = kNone;
  record.parked = false;
  --count_;
  open_.fetch_sub(1, std::memory_order_relaxed);
  parked_.fetch_sub(1, std::memory_order_relaxed);
}

void ParkedConnections::close(int fd) noexcept {
  unlink(fd);
  ::close(fd);  // the last reference: the kernel drops its epoll registration too
}

std::size_t ParkedConnections::closeExpired(std::int64_t nowNanos) noexcept {
  std::size_t closed = 0;
  while (head_ != kNone && records_[static_cast<std::size_t>(head_)].deadline <= nowNanos) {
    close(head_);
    ++closed;
  }
  return closed;
}

void ParkedConnections::closeAll() noexcept {
  while (head_ != kNone) close(head_);
}

void ParkedConnections::awaitReadable() {
  epoll_.async_wait(Descriptor::wait_read, [this](error_code ec) {
    if (ec) return;  // the worker is shutting down
    wakeReadable();
    awaitReadable();
  });
}

void ParkedConnections::wakeReadable() {
  // Asio's registration of the epoll descriptor is edge-triggered: take
  // everything ready now, or a connection left behind would wait for another's edge.
  std::array<epoll_event, 64> events;
  for (;;) {
    const int n = ::epoll_wait(epoll_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (static_cast<std::size_t>(fd) >= records_.size() || !records_[static_cast<std::size_t>(fd)].parked) continue;
      const Record& record = records_[static_cast<std::size_t>(fd)];
      const ClientAddress address = record.address;
      const std::int64_t deadline = record.deadline;
      unlink(fd);
      wake_(fd, address, deadline);
    }
    if (n < static_cast<int>(events.size())) return;
  }
}

}  // namespace ringlb::proxy
