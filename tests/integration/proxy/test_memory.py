"""Memory per keep-alive connection, against HAProxy in the same run: 1 s after each connection's
request (a client that sends a request every second or so) and once idle."""
import os
import resource
import shutil
import socket
import subprocess
import time
import unittest

from harness import ProxyTestCase, read_response, rss_kb

CONNECTIONS = 9000
REQUEST = b"GET /idle HTTP/1.1\r\nHost: shop.test\r\n\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def idle_connections(port, pid, count):
    """Opens `count` keep-alive connections that each made one request. Returns (sockets, RSS growth
    per connection 1 s after the last request, the same 2 s later)."""
    warm = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(REQUEST)
        read_response(s)
        warm.append(s)
    for s in warm:
        s.close()
    time.sleep(1.0)
    baseline = rss_kb(pid)
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(REQUEST)
        head, _ = read_response(s)
        assert head.startswith(b"HTTP/1.1 200"), head
        sockets.append(s)
    # ringlb parks a connection idle through a watchdog tick (at most 100 ms apart) and unmaps
    # the buffers no request used for a tick: both well within the first second.
    time.sleep(1)
    recent = (rss_kb(pid) - baseline) * 1024 / count
    time.sleep(2)
    return sockets, recent, (rss_kb(pid) - baseline) * 1024 / count


class MemoryTest(ProxyTestCase):
    def setUp(self):
        super().setUp()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2 * CONNECTIONS + 1000:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.assertGreaterEqual(resource.getrlimit(resource.RLIMIT_NOFILE)[0], CONNECTIONS + 1000,
                                "raise the open-files limit to run this test")
        self.assertIsNotNone(shutil.which("haproxy"), "haproxy (Debian package) is needed for the comparison")

    def test_idle_keep_alive_connections_cost_no_more_than_haproxy(self):
        member, = self.start_members(1)
        proxy = self.start_proxy("--backends", f"{member.id}={member.address}")
        ours, ours_recent, ours_per_conn = idle_connections(proxy.port, proxy.proc.pid, CONNECTIONS)
        self.assertEqual(proxy.metric("ringlb_proxy_active_connections"), CONNECTIONS)
        for s in ours[:100]:  # still usable
            s.sendall(REQUEST)
            head, _ = read_response(s)
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), f"{head!r}\n{proxy.log()[-3000:]}")
        for s in ours:
            s.close()

        port = free_port()
        config = os.path.join(self.workdir, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(f"""global
  nbthread 1
  maxconn {CONNECTIONS + 500}
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  balance uri
  hash-type consistent
  server {member.id} {member.address}
""")
        haproxy = subprocess.Popen(["haproxy", "-f", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.cleanups.append(lambda: (haproxy.kill(), haproxy.wait()))
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                self.assertLess(time.monotonic(), deadline, "haproxy did not start")
                time.sleep(0.05)
        theirs, theirs_recent, theirs_per_conn = idle_connections(port, haproxy.pid, CONNECTIONS)
        for s in theirs:
            s.close()
        print(f"\nRSS per keep-alive connection ({CONNECTIONS}) 1 s after the last request: ringlb-proxy "
              f"{ours_recent:.0f} B, HAProxy {theirs_recent:.0f} B; idle (3 s): ringlb-proxy {ours_per_conn:.0f} B, "
              f"HAProxy {theirs_per_conn:.0f} B")
        self.assertLessEqual(ours_recent, theirs_recent, "1 s after the last request")
        self.assertLessEqual(ours_per_conn, theirs_per_conn, "idle")


if __name__ == "__main__":
    unittest.main()
