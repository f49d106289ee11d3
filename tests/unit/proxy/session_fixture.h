#pragma once

// The session test fixture: a worker on beast::test::stream with scripted
// fake members, the exact bytes each side sees, and a fail_count hook.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include "health_registry.h"
#include "proxy_metrics.h"
#include "ring_publisher.h"
#include "ring_store.h"
#include "ringlb/ring/hash.h"
#include "session.h"
#include "test_net.h"
#include "worker_state.h"

namespace ringlb::proxy::test_support {

namespace test = boost::beast::test;

// Whether `data` starts with a complete request (Content-Length or chunked), and its size.
inline std::size_t completeRequest(const std::string& data) {
  const auto end = data.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  const auto head = data.substr(0, end + 4);
  std::string lower;
  for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (const auto cl = lower.find("\r\ncontent-length: "); cl != std::string::npos) {
    const auto length = std::stoull(head.substr(cl + 18));
    return data.size() >= end + 4 + length ? end + 4 + length : 0;
  }
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    const auto last = data.find("\r\n0\r\n\r\n", end);
    return last == std::string::npos ? 0 : last + 7;
  }
  return end + 4;
}

// Owns a session for as long as it runs (test streams never park).
inline Task<void> serveToEnd(std::unique_ptr<Session<TestNet>> session) {
  const bool parked = co_await session->run();
  EXPECT_FALSE(parked);
}

// What a fake member does with each request on a connection.
struct Script {
  std::deque<std::string> responses;  // "<silent>" never answers, "<close>" closes
};

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() {
    config.timeouts.requestHead = std::chrono::seconds(5);
    publish({"a", "b", "c"});
  }

  void publish(const std::vector<std::string>& ids, ring::MemberState state = ring::MemberState::Ready) {
    ring::RingSpec spec;
    spec.name = "t";
    spec.version = ++version;
    for (const auto& id : ids) spec.members.push_back({id, id + ".test:80", 1, state});
    ASSERT_TRUE(publisher.apply(spec, "test").ok());
  }

  // The members in the order a request for `path` tries them.
  std::vector<std::string> order(const std::string& path) {
    std::vector<std::string> out;
    const auto table = store.current();
    auto walk = table->ring->walk(ring::hashKey(path));
    while (auto i = walk.next()) out.push_back(table->ring->members()[*i].id);
    return out;
  }

  Task<void> backend(test::stream& remote, std::string member) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      std::size_t size = 0;
      // "<early>...": answer as soon as the head is in, without taking the body, then close.
      auto& pending = scripts[member].responses;
      const bool early = !pending.empty() && pending.front().starts_with("<early>");
      const auto complete = [&] {
        const auto headEnd = buffer.find("\r\n\r\n");
        return early ? (headEnd == std::string::npos ? 0 : headEnd + 4) : completeRequest(buffer);
      };
      // "<continue>...": answer the head with a 100 Continue, then take the body and answer with the rest.
      if (!pending.empty() && pending.front().starts_with("<continue>")) {
        while (buffer.find("\r\n\r\n") == std::string::npos) {
          error_code ec;
          const auto n = co_await remote.async_read_some(asio::buffer(chunk), noThrow(ec));
          if (ec) co_return;
          buffer.append(chunk, n);
        }
        pending.front().erase(0, 10);
        error_code ec;
        co_await asio::async_write(remote, asio::buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n")), noThrow(ec));
        if (ec) co_return;
      }
      while ((size = complete()) == 0) {
        error_code ec;
        const auto n = co_await remote.async_read_some(asio::buffer(chunk), noThrow(ec));
        if (ec) co_return;
        buffer.append(chunk, n);
      }
      received[member].push_back(buffer.substr(0, size));
      buffer.erase(0, size);
      auto& script = scripts[member];
      // By default the body names the member, or with echoPaths the request's path.
      const std::string body = echoPaths ? received[member].back().substr(4, received[member].back().find(' ', 4) - 4) : member;
      const std::string response = script.responses.empty()
                                       ? "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body
                                       : script.responses.front();
      if (!script.responses.empty()) script.responses.pop_front();
      if (early) {
        error_code ec;
        co_await asio::async_write(remote, asio::buffer(response.substr(7)), noThrow(ec));
        remote.close();
        // Like a socket closed with unread input: the proxy's further writes fail (reset),
        // while what was written stays readable.
        remote = test::stream(static_cast<asio::io_context&>(remote.get_executor().context()));
        co_return;
      }
      if (response == "<close>") {
        remote.close();
        co_return;
      }
      if (response == "<silent>") {
        error_code ec;
        co_await remote.async_read_some(asio::buffer(chunk), noThrow(ec));  // until the proxy gives up
        co_return;
      }
      // "...<then-close>": write, then close (a body delimited by the end of the connection).
      // "...<echo>": write (a 101), then send back the next bytes that come in the new protocol, and close.
      // "...<hold>": write, then keep the connection open until the proxy closes it.
      const bool thenClose = response.ends_with("<then-close>");
      const bool echo = response.ends_with("<echo>");
      const bool hold = response.ends_with("<hold>");
      const auto bytes = response.substr(0, response.size() - (thenClose ? 12 : echo ? 6 : hold ? 6 : 0));
      error_code ec;
      co_await asio::async_write(remote, asio::buffer(bytes), noThrow(ec));
      if (ec) co_return;
      if (echo) {
        if (buffer.empty()) {
          const auto n = co_await remote.async_read_some(asio::buffer(chunk), noThrow(ec));
          if (ec) co_return;
          buffer.assign(chunk, n);
        }
        tunneled[member] += buffer;
        co_await asio::async_write(remote, asio::buffer(buffer), noThrow(ec));
        remote.close();
        co_return;
      }
      if (hold) {
        while (!ec) co_await remote.async_read_some(asio::buffer(chunk), noThrow(ec));
        co_return;
      }
      if (thenClose) {
        remote.close();
        co_return;
      }
    }
  }

  // Runs one client connection that sends `request` and closes its sending side; returns what it received.
  std::string exchange(const std::string& request, test::fail_count* fc = nullptr,
                       std::function<void(asio::io_context&, WorkerState<TestNet>&)> extra = {}) {
    return exchangeAll({request}, fc, std::move(extra))[0];
  }

  // Runs one client connection per request, all at once on one worker; returns what each received.
  std::vector<std::string> exchangeAll(const std::vector<std::string>& requests, test::fail_count* fc = nullptr,
                                       std::function<void(asio::io_context&, WorkerState<TestNet>&)> extra = {}) {
    asio::io_context ioc;
    TestNet net;
    std::vector<std::unique_ptr<test::stream>> remotes;
    net.connector = [&](test::stream& local, const UpstreamGroup<TestNet>& group) -> error_code {
      const auto member = group.id;
      ++connects[member];
      if (refuse.count(member)) return asio::error::connection_refused;
      if (connectTimeout.count(member)) return asio::error::timed_out;
      if (dropOnConnect.count(member)) {
        // The member's end is gone at once: the first write fails (reset).
        test::stream gone(ioc);
        local.connect(gone);
        return {};
      }
      if (fc != nullptr) {
        error_code ec;
        if (fc->fail(ec)) return ec;
        local = test::stream(ioc, *fc);
      }
      remotes.push_back(std::make_unique<test::stream>(ioc));
      local.connect(*remotes.back());
      asio::co_spawn(ioc, backend(*remotes.back(), member), asio::detached);
      return {};
    };
    WorkerState<TestNet> state(ioc, config, net, store, metrics, 0);
    std::vector<std::unique_ptr<test::stream>> peers;
    std::size_t running = requests.size();
    for (const auto& request : requests) {
      test::stream client = fc != nullptr ? test::stream(ioc, *fc) : test::stream(ioc);
      peers.push_back(std::make_unique<test::stream>(ioc));
      client.connect(*peers.back());
      client.append(request);
      peers.back()->close();
      // When the last client connection ends, close the pooled upstream connections so the fake members finish too.
      asio::co_spawn(ioc, serveToEnd(std::make_unique<Session<TestNet>>(state, std::move(client), "127.1.2.3")),
                     [&state, &running](std::exception_ptr) {
                       if (--running == 0) state.closeIdleConnections();
                     });
    }
    if (extra) extra(ioc, state);
    ioc.run();
    EXPECT_EQ(metrics.activeConnections.load(), 0);
    std::vector<std::string> replies;
    for (const auto& peer : peers) replies.emplace_back(peer->str());
    return replies;
  }

  // One client that sends `head`, waits for a 100 Continue to send `body` (if
  // any), and reads until the answer ends with `last`; returns what it saw.
  std::string expectContinueExchange(const std::string& head, const std::string& body, const std::string& last) {
    asio::io_context ioc;
    TestNet net;
    std::vector<std::unique_ptr<test::stream>> remotes;
    net.connector = [&](test::stream& local, const UpstreamGroup<TestNet>& group) -> error_code {
      remotes.push_back(std::make_unique<test::stream>(ioc));
      local.connect(*remotes.back());
      asio::co_spawn(ioc, backend(*remotes.back(), group.id), asio::detached);
      return {};
    };
    WorkerState<TestNet> state(ioc, config, net, store, metrics, 0);
    test::stream client(ioc);
    test::stream peer(ioc);
    client.connect(peer);
    std::string seen;
    asio::co_spawn(ioc, serveToEnd(std::make_unique<Session<TestNet>>(state, std::move(client), "127.0.0.1")),
                   [&state](std::exception_ptr) { state.closeIdleConnections(); });
    asio::co_spawn(
        ioc,
        [&]() -> Task<void> {
          error_code ec;
          co_await asio::async_write(peer, asio::buffer(head), noThrow(ec));
          char buf[512];
          bool sentBody = body.empty();
          while (!seen.ends_with(last)) {
            const auto n = co_await peer.async_read_some(asio::buffer(buf), noThrow(ec));
            if (ec) break;
            seen.append(buf, n);
            if (!sentBody && seen.starts_with("HTTP/1.1 100 Continue\r\n\r\n")) {
              sentBody = true;
              co_await asio::async_write(peer, asio::buffer(body), noThrow(ec));
            }
          }
          peer.close();
        },
        asio::detached);
    ioc.run();
    return seen;
  }

  std::uint64_t counter(const std::string& member, std::size_t cls) {
    return metrics.memberStats(0, member).responses[0][cls - 1].get();
  }

  ProxyConfig config;
  RingStore store;
  HealthRegistry health;
  ProxyMetrics metrics{store, health};
  RingPublisher publisher{store, health, std::nullopt};
  std::uint64_t version = 0;
  std::map<std::string, Script> scripts;
  std::map<std::string, std::vector<std::string>> received;
  std::map<std::string, std::string> tunneled;  // bytes a member got after switching protocols
  std::map<std::string, int> connects;
  std::set<std::string> refuse;
  std::set<std::string> connectTimeout;  // connecting "times out"
  std::set<std::string> dropOnConnect;   // connections that break before the request is sent
  bool echoPaths = false;
};

// Runs the watchdog once, 20 ms into the run, as if an hour had passed:
// every pending deadline expires.
inline std::function<void(asio::io_context&, WorkerState<TestNet>&)> expireAfter20ms() {
  return [](asio::io_context& ioc, WorkerState<TestNet>& state) {
    auto timer = std::make_shared<SteadyTimer>(ioc);
    timer->expires_after(std::chrono::milliseconds(20));
    timer->async_wait([timer, &state](error_code) { state.tick(coarseNanos() + 3'600'000'000'000LL); });
  };
}

}  // namespace ringlb::proxy::test_support
