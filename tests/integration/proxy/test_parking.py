"""Parked keep-alive connections: an idle plaintext connection is held as a compact record after a
watchdog tick or two; its next request wakes it, the idle timeout and a drain close it, and the
connection gauges count it once."""
import signal
import socket
import time
import unittest

from harness import ProxyTestCase, read_response

REQUEST = b"GET /parked/%d HTTP/1.1\r\nHost: shop.test\r\n\r\n"


def closed_by_peer(sock, timeout):
    """Whether the peer closes `sock` within `timeout` seconds (without sending anything)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


class ParkingTest(ProxyTestCase):
    def start(self, *args):
        member, = self.start_members(1)
        # One worker: every connection parks in the same worker, whose gauges the test reads.
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}", *args, threads=1)
        return member, proxy

    def open_and_request(self, proxy, count):
        sockets = []
        for i in range(count):
            sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            self.addCleanup(sock.close)
            sock.sendall(REQUEST % i)
            head, _ = read_response(sock)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            sockets.append(sock)
        return sockets

    def wait_parked(self, proxy, count, timeout=5):
        return proxy.wait_for_metric("ringlb_proxy_parked_connections", None, count, timeout=timeout)

    def test_parked_connections_are_woken_by_their_next_request_and_counted_once(self):
        member, proxy = self.start()
        sockets = self.open_and_request(proxy, 5)
        self.assertEqual(self.wait_parked(proxy, 5), 5, "idle connections park within a few ticks")
        self.assertEqual(proxy.metric("ringlb_proxy_active_connections", {"protocol": "http1"}), 5,
                         "a parked connection is still an open one, counted once")
        for round_ in range(3):  # each round wakes every connection, which then parks again
            for i, sock in enumerate(sockets):
                sock.sendall(REQUEST % (100 * round_ + i))
                head, body = read_response(sock)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertEqual(body, f"{member.id} /parked/{100 * round_ + i} 0\n".encode())
            self.assertEqual(self.wait_parked(proxy, 5), 5)
        self.assertEqual(proxy.metric("ringlb_proxy_active_connections", {"protocol": "http1"}), 5)
        # The session rebuilt from a record still knows its client.
        woken = [e for e in member.events() if e.get("path") == "/parked/201"]
        self.assertEqual(woken[0]["headers"].get("X-Forwarded-For"), "127.0.0.1")
        for sock in sockets:
            sock.close()
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_active_connections", {"protocol": "http1"}, 0), 0,
                         "a client's close wakes its record, which then closes")
        self.assertEqual(self.wait_parked(proxy, 0), 0)

    def test_a_request_sent_in_pieces_across_parking_is_served(self):
        member, proxy = self.start()
        sock, = self.open_and_request(proxy, 1)
        self.assertEqual(self.wait_parked(proxy, 1), 1)
        request = REQUEST % 7
        sock.sendall(request[:10])  # wakes the record; the session waits for the rest of the head
        time.sleep(0.5)  # several watchdog ticks: an active head read is not parked again
        self.assertEqual(proxy.metric("ringlb_proxy_parked_connections"), 0)
        sock.sendall(request[10:])
        head, body = read_response(sock)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual(body, f"{member.id} /parked/7 0\n".encode())
        sock.close()

    def test_requests_arriving_while_connections_park_are_all_served(self):
        # Requests sent at every moment of a park (before, during, and after the watchdog's
        # tick) must each wake their connection: 40 connections, each sending its next
        # request after a different pause across two tick intervals.
        member, proxy = self.start("--idle-timeout", "20s")
        sockets = self.open_and_request(proxy, 40)
        for turn in range(3):
            for i, sock in enumerate(sockets):
                time.sleep(0.005)  # 40 × 5 ms spreads the sends across two ticks of 100 ms
                sock.sendall(REQUEST % (1000 * turn + i))
            for i, sock in enumerate(sockets):
                sock.settimeout(5)
                head, body = read_response(sock)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                self.assertEqual(body, f"{member.id} /parked/{1000 * turn + i} 0\n".encode())
        for sock in sockets:
            sock.close()

    def test_the_idle_timeout_closes_parked_connections(self):
        _, proxy = self.start("--idle-timeout", "1s")
        sockets = self.open_and_request(proxy, 3)
        started = time.monotonic()
        self.assertEqual(self.wait_parked(proxy, 3), 3)
        for sock in sockets:
            self.assertTrue(closed_by_peer(sock, 5), "closed at the idle timeout")
        elapsed = time.monotonic() - started
        self.assertGreater(elapsed, 0.7, "not before the idle timeout")
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_active_connections", {"protocol": "http1"}, 0), 0)
        self.assertEqual(proxy.metric("ringlb_proxy_parked_connections"), 0)

    def test_a_drain_closes_parked_connections_at_once(self):
        _, proxy = self.start("--idle-timeout", "60s", "--drain-timeout", "10s")
        sockets = self.open_and_request(proxy, 3)
        self.assertEqual(self.wait_parked(proxy, 3), 3)
        started = time.monotonic()
        proxy.signal(signal.SIGTERM)
        for sock in sockets:
            self.assertTrue(closed_by_peer(sock, 5), "closed by the drain")
        self.assertEqual(proxy.proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 5)


if __name__ == "__main__":
    unittest.main()
