"""A toxiproxy server (built by scripts/lib/toxiproxy.sh) on 127.0.0.1 and a
small client for its HTTP API: one named TCP proxy per link, toxics added and
removed by name. https://github.com/Shopify/toxiproxy documents the toxics."""
import http.client
import json
import os
import socket
import subprocess
import time

VERSION = os.environ.get("RINGLB_TOXIPROXY_VERSION", "v2.5.0")
DEFAULT_BINARY = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ringlb",
                              "toxiproxy", VERSION, "bin", "toxiproxy-server")


def binary():
    """The toxiproxy-server to run: $RINGLB_TOXIPROXY, else the cache scripts/lib/toxiproxy.sh fills."""
    path = os.environ.get("RINGLB_TOXIPROXY") or DEFAULT_BINARY
    return path if os.access(path, os.X_OK) else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ToxiproxyError(RuntimeError):
    pass


class Toxiproxy:
    """One toxiproxy-server; stop() ends it."""

    def __init__(self, workdir):
        path = binary()
        if path is None:
            raise ToxiproxyError("toxiproxy-server is not built: run `bash scripts/lib/toxiproxy.sh`")
        self.port = free_port()
        self.log = open(os.path.join(workdir, "toxiproxy.log"), "w")
        self.proc = subprocess.Popen([path, "-host", "127.0.0.1", "-port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                self.request("GET", "/version")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ToxiproxyError("toxiproxy-server did not start")
                time.sleep(0.05)

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            response = conn.getresponse()
            text = response.read().decode()
            if response.status >= 300:
                raise ToxiproxyError(f"{method} {path}: {response.status} {text}")
            return json.loads(text) if text.strip().startswith(("{", "[")) else text
        finally:
            conn.close()

    def link(self, name, upstream):
        """A new TCP proxy from a kernel-chosen 127.0.0.1 port to `upstream` (host:port); returns its Link."""
        listen_port = free_port()
        self.request("POST", "/proxies", {"name": name, "listen": f"127.0.0.1:{listen_port}",
                                          "upstream": upstream, "enabled": True})
        return Link(self, name, listen_port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Link:
    """One toxiproxy proxy: clients connect to `address`, toxiproxy forwards to the upstream.
    `downstream` toxics act on the bytes flowing back to the client (responses), `upstream` on the
    bytes flowing to the upstream (requests)."""

    def __init__(self, server, name, port):
        self.server = server
        self.name = name
        self.port = port
        self.address = f"127.0.0.1:{port}"

    def add(self, toxic_type, stream="downstream", name=None, toxicity=1.0, **attributes):
        name = name or f"{toxic_type}_{stream}"
        self.server.request("POST", f"/proxies/{self.name}/toxics",
                            {"name": name, "type": toxic_type, "stream": stream, "toxicity": toxicity,
                             "attributes": attributes})
        return name

    def remove(self, name):
        self.server.request("DELETE", f"/proxies/{self.name}/toxics/{name}")

    def clear(self):
        for toxic in self.server.request("GET", f"/proxies/{self.name}/toxics"):
            self.remove(toxic["name"])

    def blackhole(self):
        """Both directions swallow every byte and nothing is closed: a half-open peer."""
        return [self.add("timeout", stream, name=f"blackhole_{stream}", timeout=0)
                for stream in ("upstream", "downstream")]

    def set_enabled(self, enabled):
        """Disabled: the listener is closed and open connections are cut (connect then fails)."""
        self.server.request("POST", f"/proxies/{self.name}", {"enabled": enabled})
