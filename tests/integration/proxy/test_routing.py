"""Routing by the ring: owners, /explain, failover on a killed member, ring updates from the operator."""
import json
import os
import socket
import threading
import time
import unittest

from harness import ProxyTestCase, owner_chain, ring_json


class RoutingTest(ProxyTestCase):
    def test_every_key_lands_on_its_owner_and_matches_explain(self):
        members = self.start_members(4)
        operator = self.start_operator()
        ring = ring_json("apod", 1, members)
        operator.publish(ring)
        proxy = self.start_proxy("--ring-url", operator.url())
        self.wait_for_version(proxy, 1)
        conn = proxy.connection()
        served = {}
        for i in range(200):
            key = f"/planetary/apod/{i}"
            status, headers, body = proxy.get(key + "?date=2020-01-01", connection=conn)
            self.assertEqual(status, 200)
            served[key] = headers["X-Served-By"]
            _, explain = proxy.admin_json("/explain?key=" + key)
            self.assertEqual(explain["chosen"], served[key], key)
            self.assertEqual(explain["owner"], served[key], key)
        self.assertEqual(len(set(served.values())), 4, "every member owns some of 200 keys")
        # An independent computation of the owner (ringctl, from the same wire format).
        for key in list(served)[:25]:
            self.assertEqual(owner_chain(ring, key, self.workdir)[0], served[key], key)

    def test_anchor_and_weights_route_as_ringctl_computes(self):
        members = self.start_members(3)
        operator = self.start_operator()
        weights = {"m-0": 1, "m-1": 2, "m-2": 4}
        ring = ring_json("apod", 1, members, algorithm="anchor", weights=weights)
        operator.publish(ring)
        proxy = self.start_proxy("--ring-url", operator.url())
        self.wait_for_version(proxy, 1)
        conn = proxy.connection()
        counts = {m.id: 0 for m in members}
        for i in range(700):
            key = f"/w/{i}"
            status, headers, _ = proxy.get(key, connection=conn)
            self.assertEqual(status, 200)
            counts[headers["X-Served-By"]] += 1
            if i < 20:
                self.assertEqual(owner_chain(ring, key, self.workdir)[0], headers["X-Served-By"], key)
        # Shares 1/7, 2/7, 4/7 of 700 keys: 100, 200, 400, each within 4 binomial standard deviations.
        for member, expected in (("m-0", 100), ("m-1", 200), ("m-2", 400)):
            self.assertLess(abs(counts[member] - expected), 4 * (expected * (1 - expected / 700)) ** 0.5, counts)
        # A NotReady member's keys go to its anchor successor, as ringctl's chain says.
        operator.publish(ring_json("apod", 2, members, algorithm="anchor", weights=weights, states={"m-2": "NotReady"}))
        self.wait_for_version(proxy, 2)
        for i in range(20):
            key = f"/w/{i}"
            chain = owner_chain(ring, key, self.workdir)
            expected = chain[1] if chain[0] == "m-2" else chain[0]
            _, headers, _ = proxy.get(key, connection=conn)
            self.assertEqual(headers["X-Served-By"], expected, key)
        conn.close()

    def test_a_hot_key_is_spread_over_its_first_members_while_it_stays_hot(self):
        members = self.start_members(5)
        backends = ",".join(f"{m.id}={m.address}" for m in members)
        proxy = self.start_proxy("--backends", backends, "--hot-key-share", "0.05", "--hot-key-spread", "3")
        ring = ring_json("static", 1, members)
        conn = proxy.connection()
        served = {}
        # Nothing is hot before a worker counted 8 / share = 160 requests.
        for i in range(900):
            key = "/hot" if i % 2 == 0 else f"/cold/{i}"
            status, headers, _ = proxy.get(key, connection=conn)
            self.assertEqual(status, 200)
            served.setdefault(key, set()).add(headers["X-Served-By"])
        chain = owner_chain(ring, "/hot", self.workdir)
        self.assertEqual(served["/hot"], set(chain[:3]), "the hot key goes to its owner and next two successors")
        for key, by in served.items():
            if key != "/hot":
                self.assertEqual(len(by), 1, key)
        _, explain = proxy.admin_json("/explain?key=/hot")
        self.assertEqual(explain["hot"]["spreadOver"], 3)
        _, cold = proxy.admin_json("/explain?key=/cold/1")
        self.assertIsNone(cold["hot"])
        # About 370 hot requests after the first 160, two in three past the owner.
        self.assertGreater(proxy.metric("ringlb_proxy_hot_key_spread_requests_total"), 150)
        conn.close()

    def test_a_killed_member_fails_no_idempotent_request_and_only_its_keys_move(self):
        members = self.start_members(4)
        backends = ",".join(f"{m.id}={m.address}" for m in members)
        proxy = self.start_proxy("--backends", backends)
        ring = ring_json("static", 1, members)
        keys = [f"/item/{i}" for i in range(120)]
        before = {}
        conn = proxy.connection()
        for key in keys:
            status, headers, _ = proxy.get(key, connection=conn)
            self.assertEqual(status, 200)
            before[key] = headers["X-Served-By"]
        victim = members[1]

        failures, done, stop = [], [0], threading.Event()

        def load():
            c = proxy.connection()
            i = 0
            while not stop.is_set():
                key = keys[i % len(keys)]
                i += 1
                try:
                    c.request("GET" if i % 3 else "HEAD", key)
                    response = c.getresponse()
                    response.read()
                    if response.status != 200:
                        failures.append((key, response.status))
                    done[0] += 1
                except Exception as error:  # a failed request, not a test error
                    failures.append((key, repr(error)))
                    c.close()
                    c = proxy.connection()

        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.8)
        victim.kill()
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(failures, [], "idempotent requests must survive a killed member")
        self.assertGreater(done[0], 300)

        moved_to = {}
        for key in keys:
            status, headers, _ = proxy.get(key, connection=conn)
            self.assertEqual(status, 200)
            after = headers["X-Served-By"]
            if before[key] != victim.id:
                self.assertEqual(after, before[key], f"{key} moved although its owner is alive")
            else:
                chain = owner_chain(ring, key, self.workdir)
                self.assertEqual(after, chain[1], f"{key} must go to the victim's successor")
                moved_to[key] = after
        self.assertGreater(len(moved_to), 0, "the victim owned some keys")
        self.assertGreaterEqual(proxy.metric("ringlb_proxy_retries_total"), 1)
        self.assertGreaterEqual(proxy.metric("ringlb_proxy_upstream_errors_total", {"member": victim.id}), 1)
        self.assertEqual(proxy.metric("ringlb_proxy_member_ejected", {"member": victim.id}), 1)

    def test_a_new_ring_from_the_operator_is_applied_within_50ms(self):
        members = self.start_members(3)
        operator = self.start_operator()
        operator.publish(ring_json("apod", 1, members))
        proxy = self.start_proxy("--ring-url", operator.url())
        self.wait_for_version(proxy, 1)
        admin = __import__("http.client").client.HTTPConnection("127.0.0.1", proxy.admin_port, timeout=5)
        delays = []
        for version in range(2, 8):
            time.sleep(0.2)  # the proxy is parked in its long poll
            states = {members[version % 3].id: "NotReady"}
            operator.publish(ring_json("apod", version, members, states=states))
            while True:
                admin.request("GET", "/ring")
                ring = json.loads(admin.getresponse().read())
                if ring["version"] == version:
                    break
                self.assertLess(time.monotonic() - operator.published_at[version], 1.0)
            delays.append(time.monotonic() - operator.published_at[version])
        print(f"\nring apply delays after publication: max {max(delays) * 1000:.1f} ms, "
              f"median {sorted(delays)[len(delays) // 2] * 1000:.1f} ms")
        self.assertLess(max(delays), 0.050, f"apply delays {delays}")
        # The last ring is the one routing: its NotReady member gets nothing.
        down = members[7 % 3].id
        for i in range(60):
            _, headers, _ = proxy.get(f"/after/{i}")
            self.assertNotEqual(headers["X-Served-By"], down)

    def test_the_operator_going_away_leaves_routing_intact(self):
        members = self.start_members(3)
        operator = self.start_operator()
        ring = ring_json("apod", 4, members)
        operator.publish(ring)
        proxy = self.start_proxy("--ring-url", operator.url(), "--ring-backoff-max", "300ms")
        self.wait_for_version(proxy, 4)
        keys = [f"/k/{i}" for i in range(40)]
        before = {k: proxy.get(k)[1]["X-Served-By"] for k in keys}
        self.assertEqual(proxy.metric("ringlb_proxy_ring_staleness_seconds"), 0)
        port = operator.port
        operator.stop()
        time.sleep(1.5)
        for key in keys:
            status, headers, _ = proxy.get(key)
            self.assertEqual(status, 200)
            self.assertEqual(headers["X-Served-By"], before[key])
        staleness = proxy.metric("ringlb_proxy_ring_staleness_seconds")
        self.assertGreater(staleness, 1.0)
        time.sleep(0.5)
        self.assertGreater(proxy.metric("ringlb_proxy_ring_staleness_seconds"), staleness)
        self.assertEqual(proxy.admin("/readyz")[0], 200, "a stale ring still serves")
        # The operator comes back on the same address with a newer ring: the proxy reconnects.
        revived = __import__("harness").FakeOperator("apod", port=port)
        self.cleanups.append(revived.stop)
        revived.publish(ring_json("apod", 5, members[:2]))
        self.wait_for_version(proxy, 5, timeout=5)
        self.assertEqual(proxy.metric("ringlb_proxy_ring_staleness_seconds"), 0)

    def test_ring_file_is_reloaded_and_a_bad_ring_is_refused(self):
        members = self.start_members(3)
        path = os.path.join(self.workdir, "ring.json")
        self.write_ring(path, ring_json("file", 1, members))
        proxy = self.start_proxy("--ring-file", path)
        self.wait_for_version(proxy, 1)
        self.write_ring(path, {"name": "file", "version": 2, "members": [{"id": "x", "address": "nowhere", "weight": 1}]})
        deadline = time.monotonic() + 5
        while (proxy.metric("ringlb_proxy_ring_updates_total", {"result": "rejected"}) or 0) < 1:
            self.assertLess(time.monotonic(), deadline, "bad ring not noticed")
            time.sleep(0.05)
        self.assertEqual(proxy.admin_json("/ring")[1]["version"], 1)
        self.assertIn("members[0].address", proxy.log())
        self.assertEqual(proxy.get("/still/works")[0], 200)
        self.write_ring(path, ring_json("file", 3, members[:1]))
        self.wait_for_version(proxy, 3)
        for i in range(20):
            self.assertEqual(proxy.get(f"/only/{i}")[1]["X-Served-By"], members[0].id)

    def test_key_source_from_the_ring_with_path_fallback(self):
        members = self.start_members(4)
        operator = self.start_operator()
        ring = ring_json("apod", 1, members, key={"source": "header", "name": "X-User"})
        operator.publish(ring)
        proxy = self.start_proxy("--ring-url", operator.url())
        self.wait_for_version(proxy, 1)
        for user in ["alice", "bob", "carol", "dave", "erin"]:
            owner = owner_chain(ring, user, self.workdir)[0]
            for path in ["/a", "/b/c", "/d?e=f"]:
                self.assertEqual(proxy.get(path, headers={"X-User": user})[1]["X-Served-By"], owner)
        for path in ["/p/1", "/p/2", "/p/3"]:  # no X-User: the path is the key
            self.assertEqual(proxy.get(path + "?q=1")[1]["X-Served-By"], owner_chain(ring, path, self.workdir)[0])

    def test_every_worker_thread_routes_by_the_current_ring(self):
        members = self.start_members(3)
        operator = self.start_operator()
        ring = ring_json("apod", 1, members)
        operator.publish(ring)
        proxy = self.start_proxy("--ring-url", operator.url(), threads=3)
        self.wait_for_version(proxy, 1)
        keys = [f"/w/{i}" for i in range(60)]
        for key in keys:  # a new connection each: SO_REUSEPORT spreads them over the workers
            self.assertEqual(proxy.get(key)[1]["X-Served-By"], owner_chain(ring, key, self.workdir)[0])
        down = members[0].id
        operator.publish(ring_json("apod", 2, members, states={down: "NotReady"}))
        self.wait_for_version(proxy, 2)
        for key in keys:
            self.assertNotEqual(proxy.get(key)[1]["X-Served-By"], down, key)

    def test_a_pooled_connection_the_member_closed_is_replaced_without_an_error(self):
        # The member closes idle keep-alive connections after 100 ms, as NGINX's
        # keepalive_timeout does, while the proxy holds them in its pool.
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}", "--upstream-timeout", "3s")
        for method in ("GET", "POST"):  # retried after the send, and checked before it
            for attempt in range(3):
                conn = proxy.connection()
                conn.request(method, f"/close-after/100?{method}{attempt}", body=b"" if method == "POST" else None)
                response = conn.getresponse()
                self.assertEqual(response.status, 200, response.read())
                response.read()
                time.sleep(0.4)  # the member has closed its end by now
                conn.request(method, f"/after-close?{method}{attempt}", body=b"x" if method == "POST" else None)
                response = conn.getresponse()
                body = response.read()
                self.assertEqual(response.status, 200, body)
                self.assertTrue(body.startswith(f"{member.id} /after-close".encode()), body)
                conn.close()
        requests = [e["path"] for e in member.events("request")]
        self.assertEqual(len(requests), 12, "every request reached the member exactly once")
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_requests_total", {"member": member.id, "code_class": "2xx"}, 12), 12)

    def test_a_member_that_answers_before_taking_the_whole_body_is_relayed(self):
        # Like a server refusing an upload by its headers: it answers 413 and closes with the body
        # unread, so the proxy's next write is reset; the client still gets the member's answer.
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"POST /reject-early/413 HTTP/1.1\r\nHost: h\r\nContent-Length: 50000000\r\n\r\n")
            sent = 0
            try:
                while sent < 50_000_000:
                    s.sendall(b"b" * 65536)
                    sent += 65536
            except OSError:
                pass  # the proxy stops reading after the answer and closes
            response = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    response += chunk
            except OSError:
                pass
        self.assertTrue(response.startswith(b"HTTP/1.1 413 "), response[:300])
        self.assertIn(b"\r\nConnection: close\r\n", response)
        self.assertTrue(response.endswith(b"refused before reading the body\n"), response[-300:])
        self.assertLess(sent, 50_000_000, "the upload was cut short, not carried to its end")
        self.assertEqual(len(member.events("request")), 1)
        self.assertEqual(proxy.metric("ringlb_proxy_requests_total", {"member": member.id, "code_class": "4xx"}), 1)

    # helpers
    def wait_for_version(self, proxy, version, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = proxy.admin("/ring")
            if status == 200 and json.loads(body)["version"] == version:
                return
            time.sleep(0.01)
        self.fail(f"ring version {version} not applied:\n{proxy.log()}")

    @staticmethod
    def write_ring(path, ring):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(ring, f)
        os.replace(tmp, path)

    def test_expect_continue_waits_for_the_member_then_lets_the_body_through(self):
        # A member that neither answers 100 nor refuses: after a bounded wait the proxy tells
        # the client to send its body, which then reaches the member with the Expect field.
        listener = socket.create_server(("127.0.0.1", 0))
        self.cleanups.append(listener.close)
        seen = {}

        def member():
            conn, _ = listener.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                seen["head_at"] = time.monotonic()
                while not data.endswith(b"body"):
                    data += conn.recv(65536)
                seen["request"] = data
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                conn.recv(1)  # until the proxy closes

        threading.Thread(target=member, daemon=True).start()
        proxy = self.start_proxy("--backends", f"m=127.0.0.1:{listener.getsockname()[1]}")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"PUT /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += client.recv(65536)
            continued_at = time.monotonic()
            self.assertEqual(reply, b"HTTP/1.1 100 Continue\r\n\r\n")
            client.sendall(b"body")
            while not reply.endswith(b"ok"):
                chunk = client.recv(65536)
                self.assertTrue(chunk, reply)
                reply += chunk
        self.assertIn(b"HTTP/1.1 200 OK\r\n", reply)
        self.assertIn(b"\r\nExpect: 100-continue\r\n", seen["request"])
        self.assertTrue(seen["request"].endswith(b"\r\n\r\nbody"))
        # The wait is bounded (1 s) but real: the member had its chance to answer first.
        self.assertGreater(continued_at - seen["head_at"], 0.5)
        self.assertLess(continued_at - seen["head_at"], 3.0)

    def test_a_members_early_hints_reach_an_http11_client_before_the_response(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"GET /early-hints/page HTTP/1.1\r\nHost: h\r\n\r\n")
            received = b""
            while b"page" not in received:
                chunk = s.recv(65536)
                self.assertTrue(chunk, received.decode(errors="replace"))
                received += chunk
        interim, _, rest = received.partition(b"\r\n\r\n")
        self.assertTrue(interim.startswith(b"HTTP/1.1 103 "), received)
        self.assertIn(b"link: </style.css>; rel=preload", interim.lower())
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), received)
        # An HTTP/1.0 client is not sent interim responses (RFC 9110 §15.2).
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"GET /early-hints/old HTTP/1.0\r\nHost: h\r\n\r\n")
            received = b""
            while chunk := s.recv(65536):
                received += chunk
        self.assertTrue(received.startswith(b"HTTP/1.1 200 ") or received.startswith(b"HTTP/1.0 200 "), received)
        self.assertNotIn(b" 103 ", received)

    def test_a_chunked_stream_of_events_reaches_the_client_as_it_is_sent(self):
        # Server-sent events: each event must reach the client when the member sends it, not
        # when the stream ends. Ordering, not timing: the first event is read before the member
        # has sent the last (each event carries the member's clock when sent; same machine).
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"GET /events/3/1500 HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n")
            received, first_read_at = b"", None
            while b"0\r\n\r\n" not in received:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "the stream ended early:\n" + received.decode(errors="replace"))
                received += chunk
                if first_read_at is None and b"data: " in received:
                    first_read_at = time.time()
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertIn(b"200", head.split(b"\r\n")[0])
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        events = [line.split() for line in body.decode().splitlines() if line.startswith("data: ")]
        self.assertEqual([e[2] for e in events], ["0", "1", "2"])
        last_sent_at = float(events[-1][3])
        self.assertLess(first_read_at, last_sent_at, "the first event waited for the end of the stream")


if __name__ == "__main__":
    unittest.main()
