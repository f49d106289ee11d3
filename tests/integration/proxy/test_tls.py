"""The TLS data listener (--tls-listen): ALPN picks HTTP/2 or HTTP/1.1, SNI
picks the certificate, a Kubernetes-style Secret rotation (an atomic swap of
the `..data` symlink) reaches new connections without a restart while open
ones keep working, a bad certificate or key leaves the old ones in force with
an error naming the file, and sessions resume on TLS 1.2 and 1.3.

Certificates are made at test time with Debian's `openssl` CLI in the test's
temporary directory."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import unittest

from harness import PROXY, ProxyTestCase

OPENSSL = shutil.which("openssl")
NGHTTP = shutil.which("nghttp")


def make_certificate(directory, stem, common_name, dns_names):
    """A self-signed P-256 certificate and its key: (chain path, key path)."""
    chain, key = os.path.join(directory, stem + ".crt"), os.path.join(directory, stem + ".key")
    san = ",".join(f"DNS:{name}" for name in dns_names)
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", chain, "-days", "2", "-subj", f"/CN={common_name}",
                    "-addext", f"subjectAltName={san}"], check=True, capture_output=True)
    return chain, key


class SecretMount:
    """A directory laid out as the kubelet mounts a Secret: tls.crt and tls.key
    are symlinks into `..data`, itself a symlink to a timestamped directory
    that a rotation replaces by renaming a new symlink over it."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root)
        self.generation = 0

    @property
    def chain(self):
        return os.path.join(self.root, "tls.crt")

    @property
    def key(self):
        return os.path.join(self.root, "tls.key")

    def publish(self, chain_bytes, key_bytes):
        self.generation += 1
        target = f"..2026_12_06_{self.generation:04d}"
        os.makedirs(os.path.join(self.root, target))
        for name, content in (("tls.crt", chain_bytes), ("tls.key", key_bytes)):
            with open(os.path.join(self.root, target, name), "wb") as f:
                f.write(content)
        os.symlink(target, os.path.join(self.root, "..data_tmp"))
        os.replace(os.path.join(self.root, "..data_tmp"), os.path.join(self.root, "..data"))
        for name in ("tls.crt", "tls.key"):
            link = os.path.join(self.root, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class RecordClient:
    """A TLS client over memory BIOs, so a test decides how its TLS records
    share TCP writes: several records in one write arrive together, and the
    proxy's OpenSSL then holds the later ones while it serves the first."""

    def __init__(self, port, context, server_name="a.test"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_name)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
        self.flush()
        self.pending = b""

    def close(self):
        self.sock.close()

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def fill(self):
        data = self.sock.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    def send_records(self, *payloads):
        """Each payload in a TLS record of its own, all of them in one TCP write."""
        for payload in payloads:
            self.tls.write(payload)
        self.flush()

    def read(self):
        """The next plaintext bytes; b"" once the proxy sent close_notify. A TCP
        close without close_notify raises ssl.SSLEOFError."""
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.fill()
            except ssl.SSLZeroReturnError:
                return b""

    def read_until(self, separator):
        while separator not in self.pending:
            data = self.read()
            if not data:
                raise AssertionError(f"connection closed before {separator!r}: {self.pending!r}")
            self.pending += data
        before, _, self.pending = self.pending.partition(separator)
        return before

    def response(self):
        """One HTTP/1.1 response: (status, body)."""
        head = self.read_until(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(self.pending) < length:
            data = self.read()
            if not data:
                raise AssertionError(f"connection closed in a body: {self.pending!r}")
            self.pending += data
        body, self.pending = self.pending[:length], self.pending[length:]
        return int(head.split(b" ")[1]), body

    def read_to_end(self):
        """Reads until the proxy ends the connection; returns what came and whether it sent close_notify."""
        data = self.pending
        try:
            while True:
                chunk = self.read()
                if not chunk:
                    return data, True
                data += chunk
        except ssl.SSLEOFError:
            return data, False


def get(path, close=False):
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n".encode()


@unittest.skipUnless(OPENSSL, "openssl (Debian openssl) is not installed")
class TlsListenerTest(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.workdir, "certs")
        os.makedirs(self.certs)
        self.a_chain, self.a_key = make_certificate(self.certs, "a", "a.test", ["a.test", "*.wild.test"])
        self.b_chain, self.b_key = make_certificate(self.certs, "b", "b.test", ["b.test"])
        self.trusted = read(self.a_chain) + read(self.b_chain)
        self.member = self.start_members(1)[0]

    def start_tls_proxy(self, certificates, *args):
        proxy = self.start_proxy("--backends", f"{self.member.id}={self.member.address}", "--tls-listen",
                                 "127.0.0.1:0", "--tls-cert", certificates, "--tls-reload-interval", "50ms", *args)
        proxy.tls_port = int(re.search(r"listening data=.* tls=[\d.]+:(\d+)", proxy.log()).group(1))
        return proxy

    def client_context(self, alpn=("h2", "http/1.1"), version=None):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False  # the default certificate is served for names it does not carry
        context.load_verify_locations(cadata=self.trusted.decode())
        if alpn:
            context.set_alpn_protocols(list(alpn))
        if version is not None:
            context.minimum_version = context.maximum_version = version
        return context

    def connect(self, proxy, server_name=None, context=None, session=None):
        context = context or self.client_context()
        raw = socket.create_connection(("127.0.0.1", proxy.tls_port), timeout=10)
        return context.wrap_socket(raw, server_hostname=server_name, session=session)

    @staticmethod
    def served_names(connection):
        """The peer certificate's CN and DNS subjectAltNames."""
        certificate = connection.getpeercert()
        common = [value for rdn in certificate["subject"] for key, value in rdn if key == "commonName"]
        return common[0], sorted(value for kind, value in certificate.get("subjectAltName", ()) if kind == "DNS")

    @staticmethod
    def http1_get(connection, path):
        """One HTTP/1.1 request on an open TLS connection; returns (status, body)."""
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed after {data!r}")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += connection.recv(65536)
        return int(head.split(b" ")[1]), body

    def test_alpn_picks_h2_or_http1(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}")
        with self.connect(proxy, "a.test", self.client_context(("h2", "http/1.1"))) as both:
            self.assertEqual(both.selected_alpn_protocol(), "h2")
            self.assertIn(both.version(), ("TLSv1.2", "TLSv1.3"))
        with self.connect(proxy, "a.test", self.client_context(("http/1.1",))) as http1:
            self.assertEqual(http1.selected_alpn_protocol(), "http/1.1")
            status, body = self.http1_get(http1, "/over-tls")
            self.assertEqual(status, 200)
            self.assertTrue(body.startswith(f"{self.member.id} /over-tls".encode()), body)
            status, body = self.http1_get(http1, "/again")  # keep-alive through the TLS connection
            self.assertEqual(status, 200)
            self.assertTrue(body.startswith(f"{self.member.id} /again".encode()), body)
        requests = self.member.events("request")
        self.assertEqual([e["path"] for e in requests], ["/over-tls", "/again"])
        # The member learns the client spoke TLS, as behind HAProxy or Envoy.
        self.assertEqual({e["headers"].get("X-Forwarded-Proto") for e in requests}, {"https"})
        # No ALPN at all: the listener's detection serves HTTP/1.1.
        with self.connect(proxy, "a.test", self.client_context(alpn=None)) as plain:
            self.assertIsNone(plain.selected_alpn_protocol())
            self.assertEqual(self.http1_get(plain, "/no-alpn")[0], 200)

    def test_alpn_without_h2_when_the_listener_speaks_http1(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}", "--listen-protocol", "http1")
        with self.connect(proxy, "a.test", self.client_context(("h2", "http/1.1"))) as connection:
            self.assertEqual(connection.selected_alpn_protocol(), "http/1.1")
            self.assertEqual(self.http1_get(connection, "/x")[0], 200)

    @unittest.skipUnless(NGHTTP, "nghttp (Debian nghttp2-client) is not installed")
    def test_nghttp_over_tls(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}")
        completed = subprocess.run([NGHTTP, "-nv", f"https://127.0.0.1:{proxy.tls_port}/one",
                                    f"https://127.0.0.1:{proxy.tls_port}/two"],
                                   capture_output=True, text=True, timeout=30)
        self.assertEqual(completed.returncode, 0, completed.stdout[-3000:] + completed.stderr[-3000:])
        self.assertIn("The negotiated protocol: h2", completed.stdout)
        self.assertEqual(len(re.findall(r":status: 200", completed.stdout)), 2, completed.stdout[-3000:])
        self.assertEqual(sorted(e["path"] for e in self.member.events("request")), ["/one", "/two"])
        self.assertEqual({e["headers"].get("X-Forwarded-Proto") for e in self.member.events("request")}, {"https"})

    def test_sni_picks_the_certificate(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key},{self.b_chain}:{self.b_key}")
        cases = {
            "a.test": ("a.test", ["*.wild.test", "a.test"]),
            "b.test": ("b.test", ["b.test"]),
            "B.Test": ("b.test", ["b.test"]),            # names compare case-insensitively
            "x.wild.test": ("a.test", ["*.wild.test", "a.test"]),  # one-label wildcard
            "unknown.test": ("a.test", ["*.wild.test", "a.test"]),  # the first certificate is the default
            None: ("a.test", ["*.wild.test", "a.test"]),             # no SNI: the default
        }
        for server_name, expected in cases.items():
            with self.subTest(server_name=server_name):
                with self.connect(proxy, server_name) as connection:
                    self.assertEqual(self.served_names(connection), expected)

    def test_rotation_by_symlink_swap(self):
        mount = SecretMount(os.path.join(self.workdir, "secret"))
        mount.publish(read(self.a_chain), read(self.a_key))
        proxy = self.start_tls_proxy(f"{mount.chain}:{mount.key}")
        old = self.connect(proxy, "a.test", self.client_context(("http/1.1",)))
        self.addCleanup(old.close)
        self.assertEqual(self.http1_get(old, "/before")[0], 200)
        self.assertEqual(self.served_names(old)[0], "a.test")

        mount.publish(read(self.b_chain), read(self.b_key))
        deadline = time.monotonic() + 10
        while True:
            with self.connect(proxy, "b.test") as fresh:
                served = self.served_names(fresh)[0]
            if served == "b.test" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(served, "b.test", proxy.log())
        # The connection opened before the swap goes on, with the certificate it began with.
        self.assertEqual(self.http1_get(old, "/after")[0], 200)
        self.assertEqual(self.served_names(old)[0], "a.test")
        self.assertEqual(proxy.metric("ringlb_proxy_tls_certificate_reloads_total", {"result": "applied"}), 2)
        self.assertIn("TLS certificates reloaded", proxy.log())

    def test_bad_certificate_keeps_the_old_one(self):
        mount = SecretMount(os.path.join(self.workdir, "secret"))
        mount.publish(read(self.a_chain), read(self.a_key))
        proxy = self.start_tls_proxy(f"{mount.chain}:{mount.key}")

        def wait_for_rejections(count):
            deadline = time.monotonic() + 10
            while proxy.metric("ringlb_proxy_tls_certificate_reloads_total", {"result": "rejected"}) != count:
                self.assertLess(time.monotonic(), deadline, proxy.log())
                time.sleep(0.05)

        mount.publish(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", read(self.b_key))
        wait_for_rejections(1)
        self.assertRegex(proxy.log(), r"error .*TLS certificates not reloaded, the previous ones stay in force: "
                                      + re.escape(mount.chain) + r": not a usable PEM certificate chain: \S")
        with self.connect(proxy, "a.test") as connection:
            self.assertEqual(self.served_names(connection)[0], "a.test")

        mount.publish(read(self.b_chain), read(self.a_key))  # a key that is not the certificate's
        wait_for_rejections(2)
        self.assertIn(f"{mount.key}: private key does not match the certificate in {mount.chain}", proxy.log())
        with self.connect(proxy, "b.test", self.client_context(("http/1.1",))) as connection:
            self.assertEqual(self.served_names(connection)[0], "a.test")
            self.assertEqual(self.http1_get(connection, "/still")[0], 200)

        mount.publish(read(self.b_chain), read(self.b_key))  # fixed: served again
        deadline = time.monotonic() + 10
        while proxy.metric("ringlb_proxy_tls_certificate_reloads_total", {"result": "applied"}) != 2:
            self.assertLess(time.monotonic(), deadline, proxy.log())
            time.sleep(0.05)
        with self.connect(proxy, "b.test") as connection:
            self.assertEqual(self.served_names(connection)[0], "b.test")

    # The session drives the TLS stream itself: requests, upgrades and closes
    # whose bytes wait in OpenSSL rather than in the socket.

    def record_client(self, proxy):
        client = RecordClient(proxy.tls_port, self.client_context(("http/1.1",)))
        self.addCleanup(client.close)
        return client

    def test_requests_in_records_of_one_write_are_each_served(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}")
        client = self.record_client(proxy)
        client.send_records(get("/one"), get("/two"), get("/three"))
        for path in ("/one", "/two", "/three"):
            status, body = client.response()
            self.assertEqual(status, 200)
            self.assertTrue(body.startswith(f"{self.member.id} {path}".encode()), body)

    def test_a_parked_connection_is_served_when_its_next_requests_arrive_together(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}", "--idle-timeout", "10s")
        client = self.record_client(proxy)
        client.send_records(get("/first"))
        self.assertEqual(client.response()[0], 200)
        time.sleep(0.6)  # several watchdog ticks: the idle session parks
        client.send_records(get("/after-park"), get("/behind-it"))
        self.assertTrue(client.response()[1].startswith(f"{self.member.id} /after-park".encode()))
        self.assertTrue(client.response()[1].startswith(f"{self.member.id} /behind-it".encode()))

    def test_an_upgrade_tunnels_over_tls_with_its_first_bytes_in_the_same_write(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}")
        client = self.record_client(proxy)
        upgrade = (b"GET /upgrade/room HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                   b"Sec-WebSocket-Version: 13\r\n\r\n")
        # The first line sits in OpenSSL, not in the socket, when the tunnel starts.
        client.send_records(upgrade, b"hello\n")
        head = client.read_until(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.assertEqual(client.read_until(b"\n"), f"{self.member.id}: hello".encode())
        client.send_records(b"again\n")
        self.assertEqual(client.read_until(b"\n"), f"{self.member.id}: again".encode())
        # The client's close_notify is its half-close: the member says goodbye and
        # closes, and the proxy ends the TLS connection with close_notify.
        try:
            client.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        client.flush()
        rest, clean = client.read_to_end()
        self.assertEqual(rest, f"bye {self.member.id}\n".encode())
        self.assertTrue(clean, "no close_notify from the proxy")
        self.assertEqual([e["line"] for e in self.member.events("tunnel")], ["hello", "again"])

    def test_the_proxy_closes_with_close_notify(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}", "--idle-timeout", "300ms")
        # After a response that ends the connection.
        client = self.record_client(proxy)
        client.send_records(get("/last", close=True))
        self.assertEqual(client.response()[0], 200)
        self.assertEqual(client.read_to_end(), (b"", True))
        # After the idle timeout, the session parked meanwhile.
        client = self.record_client(proxy)
        client.send_records(get("/then-silence"))
        self.assertEqual(client.response()[0], 200)
        started = time.monotonic()
        self.assertEqual(client.read_to_end(), (b"", True))
        self.assertLess(time.monotonic() - started, 5)
        # After an error reply (a malformed request), once the client read it.
        client = self.record_client(proxy)
        client.send_records(b"NOT HTTP\r\n\r\n")
        self.assertEqual(client.response()[0], 400)
        self.assertEqual(client.read_to_end(), (b"", True))

    def test_a_silent_client_is_closed_after_the_head_timeout(self):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}", "--head-timeout", "300ms")
        silent = socket.create_connection(("127.0.0.1", proxy.tls_port), timeout=10)
        self.addCleanup(silent.close)
        started = time.monotonic()
        self.assertEqual(silent.recv(1), b"")  # closed without a handshake
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(proxy.wait_for_metric("ringlb_proxy_tls_handshakes_total", {"result": "failed"}, 1), 1)
        with self.connect(proxy, "a.test") as connection:  # others are served meanwhile
            self.assertEqual(self.served_names(connection)[0], "a.test")

    def test_bad_certificate_at_start_is_refused(self):
        garbage = os.path.join(self.certs, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        completed = subprocess.run([PROXY, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                                    "--backends", f"{self.member.id}={self.member.address}",
                                    "--tls-listen", "127.0.0.1:0", "--tls-cert", f"{garbage}:{self.a_key}"],
                                   capture_output=True, text=True, timeout=10)
        self.assertEqual(completed.returncode, 2)
        self.assertIn(f"--tls-cert: {garbage}: not a usable PEM certificate chain", completed.stderr)

    def resumes(self, version):
        proxy = self.start_tls_proxy(f"{self.a_chain}:{self.a_key}")
        context = self.client_context(("http/1.1",), version)
        with self.connect(proxy, "a.test", context) as first:
            self.assertEqual(first.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
            self.assertFalse(first.session_reused)
            # TLS 1.3 tickets come after the handshake: an exchange makes sure they arrived.
            self.assertEqual(self.http1_get(first, "/first")[0], 200)
            session = first.session
        with self.connect(proxy, "a.test", context, session=session) as second:
            self.assertTrue(second.session_reused)
            self.assertEqual(self.http1_get(second, "/second")[0], 200)
        self.assertEqual(proxy.metric("ringlb_proxy_tls_handshakes_total", {"result": "resumed"}), 1)
        self.assertEqual(proxy.metric("ringlb_proxy_tls_handshakes_total", {"result": "full"}), 1)

    def test_resumption_tls12(self):
        self.resumes(ssl.TLSVersion.TLSv1_2)

    def test_resumption_tls13(self):
        self.resumes(ssl.TLSVersion.TLSv1_3)


if __name__ == "__main__":
    unittest.main()
