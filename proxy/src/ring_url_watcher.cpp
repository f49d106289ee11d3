#include "ring_url_watcher.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "routing_table.h"
#include "ringlb/ring/wire_format.h"

namespace ringlb::proxy {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr std::chrono::milliseconds kBackoffInitial{100};
constexpr std::size_t kMaxRingBytes = 64 * 1024 * 1024;
constexpr std::chrono::seconds kWatchAnswerGrace{2};
}  // namespace

RingUrlWatcher::RingUrlWatcher(asio::io_context& ioc, RingPublisher& publisher, RingStore& store, HttpUrl url,
                               std::chrono::milliseconds watchTimeout, std::chrono::milliseconds backoffMax)
    : ioc_(ioc),
      publisher_(publisher),
      store_(store),
      url_(std::move(url)),
      watchTimeout_(watchTimeout),
      backoffMax_(backoffMax) {}

void RingUrlWatcher::start() {
  timer_.emplace(ioc_);
  asio::co_spawn(ioc_, loop(), [](std::exception_ptr) {});
}

void RingUrlWatcher::stop() {
  stopped_ = true;
  error_code ignored;
  if (socket_) socket_->close(ignored);
  if (timer_) timer_->cancel();
}

std::chrono::milliseconds RingUrlWatcher::nextBackoff() {
  backoff_ = backoff_.count() == 0 ? kBackoffInitial : std::min(backoff_ * 2, backoffMax_);
  // Full jitter between half and all of the step, so proxies do not reconnect in lockstep.
  std::uniform_int_distribution<std::int64_t> jitter(backoff_.count() / 2, backoff_.count());
  return std::chrono::milliseconds(jitter(rng_));
}

Task<void> RingUrlWatcher::loop() {
  while (!stopped_) {
    socket_.emplace(ioc_);
    const bool healthy = co_await session(*socket_);
    error_code ignored;
    socket_->close(ignored);
    store_.watchClosed();
    if (stopped_) break;
    const auto wait = healthy ? std::chrono::milliseconds(0) : nextBackoff();
    if (healthy) backoff_ = std::chrono::milliseconds(0);
    timer_->expires_after(wait);
    error_code ec;
    co_await timer_->async_wait(noThrow(ec));
  }
}

Task<bool> RingUrlWatcher::session(TcpSocket& socket) {
  const auto where = "url:http://" + url_.endpoint.toString() + url_.target;
  const auto endpoint = resolveAddress(url_.endpoint.toString());
  if (!endpoint) {
    spdlog::warn("ring url host {} does not resolve; retrying", url_.endpoint.host);
    co_return false;
  }
  // One deadline for each exchange, enforced by closing the socket.
  bool timedOut = false;
  auto arm = [&](std::chrono::milliseconds timeout) {
    timedOut = false;
    timer_->expires_after(timeout);
    timer_->async_wait([&socket, &timedOut](error_code e) {
      if (e) return;
      timedOut = true;
      error_code ignored;
      socket.close(ignored);
    });
  };
  error_code ec;
  arm(std::chrono::seconds(5));
  co_await socket.async_connect(*endpoint, noThrow(ec));
  timer_->cancel();
  if (ec || timedOut) {
    if (connectedBefore_ || backoff_.count() == 0) spdlog::warn("operator at {} unreachable: {}", where, ec.message());
    connectedBefore_ = false;
    co_return false;
  }
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  if (!connectedBefore_) spdlog::info("connected to the operator at {}", where);
  connectedBefore_ = true;
  beast::flat_buffer buffer;
  bool watch = false;  // the first exchange on a connection is a plain GET
  bool answered = false;
  for (;;) {
    http::request<http::empty_body> request{http::verb::get, url_.target, 11};
    if (watch) {
      request.target(url_.target + "?watch=" + std::to_string(known_) +
                     "&timeoutSeconds=" + std::to_string(std::max<std::int64_t>(1, watchTimeout_.count() / 1000)));
    }
    request.set(http::field::host, url_.endpoint.toString());
    request.set(http::field::user_agent, "ringlb-proxy");
    request.keep_alive(true);
    arm(watch ? watchTimeout_ + std::chrono::seconds(10) : std::chrono::seconds(10));
    co_await http::async_write(socket, request, noThrow(ec));
    if (ec) break;
    if (watch) {
      // The operator answers a watch by its timeout; past that and a grace, silence is staleness.
      store_.watchOpened(monotonicNanos() +
                         std::chrono::duration_cast<std::chrono::nanoseconds>(watchTimeout_ + kWatchAnswerGrace).count());
    }
    // The answer may come in several segments; acknowledge at once so a sender
    // still using Nagle's algorithm is not held back by our delayed ACK.
    const int quickAck = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &quickAck, sizeof quickAck);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxRingBytes);
    co_await http::async_read(socket, buffer, parser, noThrow(ec));
    timer_->cancel();
    store_.watchClosed();
    if (ec) break;
    const auto& response = parser.get();
    const auto status = response.result_int();
    if (status == 200) {
      auto spec = ring::parseRingJson(response.body());
      if (!spec) {
        store_.countRejected();
        spdlog::error("ring from {} refused, keeping the previous one: {}", where, spec.error());
        // Do not spin on the same bad version: wait for a newer one.
        if (const auto header = response.find("X-Ring-Version"); header != response.end()) {
          try {
            known_ = std::max<std::uint64_t>(known_, std::stoull(std::string(header->value())));
          } catch (const std::exception&) {
          }
        }
        co_return false;
      }
      const auto version = spec->version;
      if (version != known_ || !watch) {
        if (version != known_ || !store_.current() || store_.current()->ring->version() != version) {
          if (!publisher_.apply(std::move(spec).value(), where)) co_return false;
        }
        known_ = version;
      }
      store_.confirm(monotonicNanos());
      answered = true;
    } else if (status == 304) {
      store_.confirm(monotonicNanos());
      answered = true;
    } else if (status == 404) {
      spdlog::error("operator at {} does not know this ring (404); keeping the ring in force", where);
      co_return false;
    } else {
      spdlog::warn("operator at {} answered {}; retrying", where, status);
      co_return false;
    }
    if (!response.keep_alive()) break;
    watch = true;
  }
  if (!stopped_ && (ec || timedOut)) spdlog::warn("ring watch on {} ended: {}", where, timedOut ? "timed out" : ec.message());
  co_return answered;
}

}  // namespace ringlb::proxy
