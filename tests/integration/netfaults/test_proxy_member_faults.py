"""Network faults between ringlb-proxy and its members, made by toxiproxy on each member's link
(and by iptables inside a private network namespace for packet loss). Each test names the
behaviour a user of Envoy or HAProxy expects: idempotent requests move to the successor when a
member is unreachable, a request that may have acted is never sent twice, every wait is bounded,
and a member that keeps failing is ejected. Bounds are counts, ratios and generous ceilings: the
machine is small and shared."""
import http.client
import sys
import threading
import time
import unittest
import uuid

from netfaults_support import PortDrop, dropped_packets, require_private_netns, require_toxiproxy
from harness import ProxyTestCase, owner_chain
import toxiproxy

CONNECT_TIMEOUT = 0.5
UPSTREAM_TIMEOUT = 1.0
IDLE_TIMEOUT = 2.0


def request(port, method, path, headers=None, body=None, timeout=30):
    """(status, headers, body, seconds) of one request on a new connection."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data, time.monotonic() - started
    finally:
        conn.close()


class LinkedMembersTestCase(ProxyTestCase):
    """Three members, each behind its own toxiproxy link, and a proxy whose ring names the links."""

    def start_linked(self, count=3, *proxy_args, upstream_timeout=UPSTREAM_TIMEOUT):
        self.members = self.start_members(count)
        self.toxiproxy = toxiproxy.Toxiproxy(self.workdir)
        self.cleanups.append(self.toxiproxy.stop)
        self.links = {m.id: self.toxiproxy.link(m.id, m.address) for m in self.members}
        backends = ",".join(f"{m.id}={self.links[m.id].address}" for m in self.members)
        self.proxy = self.start_proxy(
            "--backends", backends, "--connect-timeout", f"{int(CONNECT_TIMEOUT * 1000)}ms",
            "--upstream-timeout", f"{int(upstream_timeout * 1000)}ms", "--idle-timeout", f"{int(IDLE_TIMEOUT * 1000)}ms",
            "--retries", "2", *proxy_args)
        # The ring ringctl sees: the same ids, weights and vnodes as --backends builds.
        self.ring = {"name": "static", "version": 1, "algorithm": "ring", "virtualNodes": 160, "loadFactor": 0.0,
                     "members": [{"id": m.id, "address": self.links[m.id].address, "weight": 1, "state": "Ready"}
                                 for m in self.members]}
        status, _, _ = self.proxy.get("/warm")
        self.assertEqual(status, 200)

    def keys_owned_by(self, member_id, count, prefix="/k"):
        """`count` paths whose owner is `member_id`, with their successor chains."""
        found = []
        for i in range(2000):
            path = f"{prefix}/{i}"
            chain = owner_chain(self.ring, path, self.workdir)
            if chain[0] == member_id:
                found.append((path, chain))
                if len(found) == count:
                    return found
        raise AssertionError(f"no {count} keys owned by {member_id}")

    def member(self, member_id):
        return next(m for m in self.members if m.id == member_id)

    def requests_seen(self, member_id, path_prefix):
        return [e for e in self.member(member_id).events("request") if e["path"].startswith(path_prefix)]


@require_toxiproxy
class ProxyMemberFaultsTest(LinkedMembersTestCase):

    def test_latency_with_jitter_slows_answers_but_fails_none_and_moves_no_key(self):
        # A generous per-try timeout: a stall of the loaded machine must not look like a failure.
        self.start_linked(3, "--eject-after", "3", upstream_timeout=5.0)
        for link in self.links.values():
            link.add("latency", "downstream", latency=150, jitter=100)
        keys = [(f"/lat/{i}", owner_chain(self.ring, f"/lat/{i}", self.workdir)[0]) for i in range(30)]
        latencies = []
        conn = self.proxy.connection(timeout=30)
        self.cleanups.append(conn.close)
        for path, owner in keys:
            started = time.monotonic()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            latencies.append(time.monotonic() - started)
            self.assertEqual(response.status, 200, path)
            self.assertEqual(response.getheader("X-Served-By"), owner, "a slow member keeps its keys")
        latencies.sort()
        # latency 150 ± 100 ms on every answer: the median is at least 50 ms (the toxic was in force).
        self.assertGreaterEqual(latencies[len(latencies) // 2], 0.05)
        self.assertEqual(self.proxy.metric("ringlb_proxy_retries_total") or 0, 0, "slow is not failed")
        self.assertEqual(self.proxy.metric("ringlb_proxy_ejections_total") or 0, 0)

    def test_bandwidth_cap_streams_the_whole_body_past_the_idle_timeout(self):
        self.start_linked(3)
        (path, chain), = self.keys_owned_by("m-0", 1, prefix="/bytes/262144")
        self.links["m-0"].add("bandwidth", "downstream", rate=64)  # KB/s
        status, headers, body, seconds = request(self.proxy.port, "GET", path)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("X-Served-By"), "m-0")
        self.assertEqual(len(body), 262144, "the whole body, however slowly")
        # 256 KB at 64 KB/s is 4 s, longer than --idle-timeout (2 s): a response that keeps moving
        # is not cut. Half the nominal time is a floor any machine meets.
        self.assertGreaterEqual(seconds, 2.0, "the cap was in force")
        self.assertEqual(self.proxy.metric("ringlb_proxy_upstream_errors_total") or 0, 0)

    def test_blackholed_member_idempotent_requests_move_to_the_successor_and_it_is_ejected(self):
        timeout = 2.0  # every non-ejected try waits this long, so skipping the member is visible
        self.start_linked(3, "--eject-after", "3", "--eject-base", "3s", upstream_timeout=timeout)
        owned = self.keys_owned_by("m-1", 10, prefix="/bh")
        self.links["m-1"].blackhole()
        results = []
        for path, chain in owned:
            status, headers, _, seconds = request(self.proxy.port, "GET", path)
            results.append((status, headers.get("X-Served-By"), seconds, chain))
        for status, served_by, seconds, chain in results:
            self.assertEqual(status, 200, "no idempotent request fails while a member is blackholed")
            self.assertEqual(served_by, chain[1], "served by the key's first successor")
        # Before the ejection each try waits for --upstream-timeout; no try waits longer than that
        # plus a connect (and the retry's own exchange), whatever the machine's speed.
        self.assertGreaterEqual(results[0][2], timeout)
        self.assertLess(max(r[2] for r in results), 10 * timeout)
        self.assertEqual(self.proxy.metric("ringlb_proxy_ejections_total", {"member": "m-1"}), 1)
        self.assertEqual(self.proxy.metric("ringlb_proxy_upstream_errors_total", {"member": "m-1", "reason": "timeout"}), 3,
                         "after --eject-after (3) timeouts nothing more is tried on it")
        # Once ejected, requests go straight to the successor: none waits for the timeout again.
        self.assertTrue(all(r[2] < timeout for r in results[3:]), [round(r[2], 3) for r in results])
        self.assertEqual(self.requests_seen("m-1", "/bh"), [], "the blackhole swallowed every byte")

        # A POST to the blackholed owner (after the ejection ended) was sent, so it may have acted:
        # it is not retried elsewhere; the client gets a 504 within the timeout.
        time.sleep(3.5)
        request_id = str(uuid.uuid4())
        path, chain = owned[0]
        status, _, _, seconds = request(self.proxy.port, "POST", path, headers={"X-Request-Id": request_id}, body=b"once")
        self.assertEqual(status, 504)
        self.assertLess(seconds, 10 * timeout)
        for member in self.members:
            self.assertFalse(any(e["headers"].get("X-Request-Id") == request_id for e in member.events("request")),
                             f"the POST reached {member.id}: a non-idempotent request went to a successor")

        # Healed: once the ejection ends, the owner has its keys back.
        self.links["m-1"].clear()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if request(self.proxy.port, "GET", path)[1].get("X-Served-By") == "m-1":
                break
            time.sleep(0.5)
        else:
            self.fail("the healed member never got its keys back")

    def test_reset_before_the_response_retries_idempotent_requests_and_never_resends_a_post(self):
        self.start_linked(3, "--eject-after", "0")
        owned = self.keys_owned_by("m-2", 6, prefix="/rst")
        self.links["m-2"].add("reset_peer", "downstream", timeout=0)
        for path, chain in owned:
            status, headers, _, _ = request(self.proxy.port, "GET", path)
            self.assertEqual(status, 200, path)
            self.assertEqual(headers.get("X-Served-By"), chain[1])
        seen = len(self.requests_seen("m-2", "/rst"))
        # The first may go out on the connection the warm-up left pooled; one found dead is retried
        # once on the same member with a new connection before moving on.
        self.assertIn(seen, (len(owned), len(owned) + 1), "each GET reached the owner once (or twice), then moved")
        path, chain = owned[0]
        self.assert_post_sent_once_when_reset(path, "m-2")

    def assert_post_sent_once_when_reset(self, path, owner):
        request_id = str(uuid.uuid4())
        status, _, _, _ = request(self.proxy.port, "POST", path, headers={"X-Request-Id": request_id}, body=b"once")
        self.assertEqual(status, 502, "the member reset after receiving the POST: it is not retried")
        time.sleep(0.2)  # a resend, if any, has reached the member's log
        deliveries = [m.id for m in self.members for e in m.events("request")
                      if e["headers"].get("X-Request-Id") == request_id]
        self.assertEqual(deliveries, [owner], "delivered exactly once, to the owner")
        return request_id

    def test_reset_of_a_pooled_connection_after_a_post_was_sent_does_not_resend_it(self):
        self.start_linked(3, "--eject-after", "0")
        (path, chain), = self.keys_owned_by("m-2", 1, prefix="/pooled")
        # A kept-alive connection to the owner, pooled by the proxy.
        self.assertEqual(request(self.proxy.port, "GET", path)[1].get("X-Served-By"), "m-2")
        self.links["m-2"].add("reset_peer", "downstream", timeout=0)
        self.assert_post_sent_once_when_reset(path, "m-2")

    def assert_truncated_and_closed(self, path, announced):
        """The client gets the status line and part of the body, then the connection closes: the
        proxy cannot take back what it has sent, so it must not hang, pad or reuse the connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=30)
        self.cleanups.append(conn.close)
        started = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(int(response.getheader("Content-Length")), announced)
        with self.assertRaises(http.client.IncompleteRead) as caught:
            response.read()
        self.assertLess(len(caught.exception.partial), announced)
        self.assertLess(time.monotonic() - started, 10 * IDLE_TIMEOUT, "the close came within a bounded time")
        # The proxy is fine, and a new request on a new connection is served.
        self.assertEqual(request(self.proxy.port, "GET", "/after")[0], 200)

    def test_reset_in_the_middle_of_a_response_closes_the_client_connection(self):
        self.start_linked(3)
        (path, _), = self.keys_owned_by("m-0", 1, prefix="/reset-after/65536/1048576")
        self.assert_truncated_and_closed(path, 1048576)
        self.assertGreaterEqual(self.proxy.metric("ringlb_proxy_upstream_errors_total", {"member": "m-0"}), 1)

    def test_connection_cut_in_the_middle_of_a_response_closes_the_client_connection(self):
        self.start_linked(3)
        (path, _), = self.keys_owned_by("m-0", 1, prefix="/bytes/1048576")
        self.links["m-0"].add("limit_data", "downstream", bytes=100000)
        self.assert_truncated_and_closed(path, 1048576)

    def test_member_going_silent_in_the_middle_of_a_response_is_cut_off(self):
        self.start_linked(3)
        (path, _), = self.keys_owned_by("m-0", 1, prefix="/bytes/1048576")
        self.links["m-0"].add("bandwidth", "downstream", rate=32)
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=60)
        self.cleanups.append(conn.close)
        conn.request("GET", path)
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        response.read(1000)
        self.links["m-0"].blackhole()
        started = time.monotonic()
        with self.assertRaises(http.client.IncompleteRead):
            response.read()
        waited = time.monotonic() - started
        # A member that stops sending mid-body holds the client no longer than an idle timeout
        # (HAProxy's `timeout server`, Envoy's stream idle timeout), with room for a slow machine.
        self.assertLess(waited, 10 * IDLE_TIMEOUT, f"the stalled response was cut after {waited:.1f} s")
        self.assertGreaterEqual(waited, IDLE_TIMEOUT * 0.5, "bytes already in flight arrive first")

    def test_slow_close_of_kept_alive_member_connections_fails_no_request(self):
        self.start_linked(3, "--eject-after", "0")
        for link in self.links.values():
            link.add("slow_close", "downstream", delay=3000)
            link.add("slow_close", "upstream", delay=3000)
        conn = self.proxy.connection(timeout=30)
        self.cleanups.append(conn.close)
        statuses = []
        # Each member closes its kept-alive connection 100 ms after answering, but the close reaches
        # the proxy 3 s late: the proxy's next request on that connection finds it dead.
        for i in range(8):
            conn.request("GET", f"/close-after/100?n={i}")
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            time.sleep(0.4)
        self.assertEqual(statuses, [200] * 8)


@require_private_netns
class PacketLossTest(ProxyTestCase):
    """5% of the packets to and from each member dropped (iptables in a private namespace; the
    kernel here has no netem): TCP retransmits, a lost SYN costs a connect timeout and a retry on
    the successor. No GET fails."""

    def test_five_percent_loss_fails_no_idempotent_request(self):
        members = self.start_members(3)
        proxy = self.start_proxy("--backends", ",".join(f"{m.id}={m.address}" for m in members),
                                 "--connect-timeout", "500ms", "--upstream-timeout", "3s", "--retries", "2",
                                 "--upstream-max-idle", "2")
        self.assertEqual(proxy.get("/warm")[0], 200)
        drops = [PortDrop(m.port, 0.05) for m in members]
        failures, count = [], 0
        lock = threading.Lock()

        def client(worker):
            nonlocal count
            for i in range(60):
                try:
                    status = request(proxy.port, "GET", f"/loss/{worker}/{i}", timeout=60)[0]
                except OSError as error:
                    status = repr(error)
                with lock:
                    count += 1
                    if status != 200:
                        failures.append(status)

        for drop in drops:
            drop.__enter__()
            self.cleanups.append(drop.lift)
        threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        dropped = dropped_packets()
        for drop in drops:
            drop.lift()
        retries = proxy.metric("ringlb_proxy_retries_total") or 0
        print(f"\n5% loss: 240 GETs, {dropped} packets dropped, {retries:.0f} retries, {len(failures)} failed",
              file=sys.stderr)
        self.assertGreater(dropped, 0, "the loss was in force")
        self.assertEqual(count, 240)
        self.assertEqual(failures, [], "no idempotent request fails under 5% loss")
        received = sum(len([e for e in m.events("request") if e["path"].startswith("/loss/")]) for m in members)
        self.assertGreaterEqual(received, 240)


if __name__ == "__main__":
    unittest.main()
