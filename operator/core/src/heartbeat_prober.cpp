#include "ringlb/operator/heartbeat_prober.h"

#include "h2c_probe_exchange.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace ringlb::op {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

Result<HostPort> splitHostPort(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Error::invalid("bad address '" + address + "'");
  }
  HostPort out{address.substr(0, colon), address.substr(colon + 1)};
  if (out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  return out;
}

struct HeartbeatProber::Loop {
  explicit Loop(asio::io_context& io, ProbeTarget t) : target(std::move(t)), timer(io) {}
  ProbeTarget target;
  asio::steady_timer timer;
  std::shared_ptr<beast::tcp_stream> stream;  // the probe in flight, closed on stop
  bool stopped = false;
};

namespace {

asio::awaitable<ProbeVerdict> probeOverHttp1(beast::tcp_stream& stream, const ProbeTarget& target) {
  http::request<http::empty_body> request{http::verb::get, target.check.path, 11};
  request.set(http::field::host, target.address);
  request.set(http::field::user_agent, "ringlb-operator/heartbeat");
  request.set(http::field::connection, "close");
  beast::error_code ec;
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      const unsigned status = parser.get().result_int();
      co_return ProbeVerdict{status >= 200 && status < 400, "HTTP " + std::to_string(status)};
    }
  }
  co_return ProbeVerdict{false, ec == beast::error::timeout
                                    ? "timed out after " + std::to_string(target.check.timeoutSeconds) + "s"
                                    : ec.message()};
}

asio::awaitable<ProbeResult> probeOnce(std::shared_ptr<beast::tcp_stream> stream, ProbeTarget target) {
  ProbeResult result{target.ringKey, target.ring, target.slot, target.runtimeId, false, {}};
  const auto hostPort = splitHostPort(target.address);
  if (!hostPort) {
    result.detail = hostPort.error();
    co_return result;
  }
  const std::string& host = hostPort->host;
  const std::string& port = hostPort->port;
  const auto timeout = std::chrono::seconds(target.check.timeoutSeconds);
  beast::error_code ec;
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  stream->expires_after(timeout);
  const auto endpoints =
      co_await resolver.async_resolve(host, port, tcp::resolver::numeric_service, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result.detail = "resolve " + host + ": " + ec.message();
    co_return result;
  }
  co_await stream->async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    result.detail = ec == beast::error::timeout ? "connect timed out after " + std::to_string(target.check.timeoutSeconds) + "s"
                                                : "connect: " + ec.message();
    co_return result;
  }
  ProbeVerdict verdict;
  if (target.protocol == ring::UpstreamProtocol::H2c) {
    verdict = co_await probeOverH2c(*stream, target);
  } else {
    verdict = co_await probeOverHttp1(*stream, target);
  }
  result.success = verdict.success;
  result.detail = verdict.detail;
  beast::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream->close();
  co_return result;
}

}  // namespace

HeartbeatProber::HeartbeatProber(asio::io_context& io, ResultHandler onResult, std::chrono::milliseconds startingInterval)
    : io_(io), onResult_(std::move(onResult)), startingInterval_(startingInterval) {}

HeartbeatProber::~HeartbeatProber() = default;

void HeartbeatProber::setTargets(const std::string& ringKey, std::vector<ProbeTarget> targets) {
  asio::post(io_, [this, ringKey, targets = std::move(targets)]() mutable { apply(ringKey, std::move(targets)); });
}

void HeartbeatProber::stop() {
  asio::post(io_, [this] {
    for (auto& [ring, slots] : loops_) {
      for (auto& [slot, loop] : slots) {
        loop->stopped = true;
        loop->timer.cancel();
        if (loop->stream) loop->stream->cancel();
      }
    }
    loops_.clear();
  });
}

void HeartbeatProber::apply(const std::string& ringKey, std::vector<ProbeTarget> targets) {
  auto& slots = loops_[ringKey];
  std::map<std::string, std::shared_ptr<Loop>> next;
  for (auto& target : targets) {
    const auto it = slots.find(target.slot);
    if (it != slots.end() && !it->second->stopped) {
      ProbeTarget& current = it->second->target;
      if (current.runtimeId == target.runtimeId && current.address == target.address && current.check == target.check &&
          current.protocol == target.protocol) {
        const bool wasStarting = current.starting;
        current.starting = target.starting;
        if (!wasStarting && target.starting) it->second->timer.cancel();  // probe the restarted replica now
        next[target.slot] = it->second;
        slots.erase(it);
        continue;
      }
    }
    auto loop = std::make_shared<Loop>(io_, std::move(target));
    next[loop->target.slot] = loop;
    asio::co_spawn(
        io_,
        [this, loop]() -> asio::awaitable<void> {
          while (!loop->stopped) {
            loop->stream = std::make_shared<beast::tcp_stream>(io_);
            ProbeResult result = co_await probeOnce(loop->stream, loop->target);
            loop->stream.reset();
            if (loop->stopped) break;
            onResult_(result);
            const auto interval = loop->target.starting
                                      ? std::min<std::chrono::milliseconds>(startingInterval_,
                                                                            std::chrono::seconds(loop->target.check.intervalSeconds))
                                      : std::chrono::milliseconds(std::chrono::seconds(loop->target.check.intervalSeconds));
            loop->timer.expires_after(interval);
            beast::error_code ec;
            co_await loop->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
          }
        },
        asio::detached);
  }
  for (auto& [slot, loop] : slots) {
    loop->stopped = true;
    loop->timer.cancel();
    if (loop->stream) loop->stream->cancel();
  }
  if (next.empty()) {
    loops_.erase(ringKey);
  } else {
    slots = std::move(next);
  }
}

}  // namespace ringlb::op
