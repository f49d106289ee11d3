"""h2spec (the HTTP/2 conformance suite, github.com/summerwind/h2spec) against
the proxy's h2c listener, in both listener modes. Every case must pass except
the two explained here:

- http2/3.5/2 "Sends invalid connection preface", only with --listen-protocol
  auto (the default): a connection that does not open with the HTTP/2 preface
  is served as HTTP/1.1, so h2spec's junk gets an HTTP/1.1 400 before the
  close instead of a bare close. With --listen-protocol h2c the case passes.
- http2/5.1.1/2 "Sends stream identifier that is numerically smaller than
  previous": nghttp2 deliberately ignores a HEADERS frame on an already used
  stream id rather than failing the connection (nghttp2's session.c explains:
  after a RST_STREAM the peers' views of closed streams can differ, and a
  client sending trailers for a stream it has not yet seen reset is not at
  fault). The proxy relies on nghttp2 for framing and keeps its choice.

Against the TLS listener (`h2spec -t -k`, ALPN h2) only the second case
fails: ALPN has already chosen HTTP/2, so an invalid preface is a plain
connection error there.

scripts/test builds h2spec into ~/.cache/ringlb/h2spec/<version>
(RINGLB_H2SPEC overrides). The suite skips without it, except under CI=true."""
import os
import re
import shutil
import subprocess
import unittest

from harness import ProxyTestCase

H2SPEC = os.environ.get("RINGLB_H2SPEC", os.path.expanduser("~/.cache/ringlb/h2spec/v2.2.1/h2spec"))
if not os.access(H2SPEC, os.X_OK):
    H2SPEC = shutil.which("h2spec")
if H2SPEC is None and os.environ.get("CI") == "true":
    raise RuntimeError("h2spec is missing (./scripts/test builds it)")

PREFACE_CASE = "http2/3.5/2"
STREAM_ID_CASE = "http2/5.1.1/2"


@unittest.skipUnless(H2SPEC, "h2spec is not built (./scripts/test builds it into ~/.cache/ringlb/h2spec)")
class H2specTest(ProxyTestCase):
    def run_h2spec(self, proxy, *extra, port=None):
        completed = subprocess.run([H2SPEC, "-h", "127.0.0.1", "-p", str(port or proxy.port), "-o", "5", *extra],
                                   capture_output=True, text=True, timeout=600)
        summary = re.search(r"(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed", completed.stdout)
        self.assertIsNotNone(summary, completed.stdout[-3000:] + completed.stderr[-3000:])
        total, passed, skipped, failures = (int(g) for g in summary.groups())
        print(f"\nh2spec: {total} tests, {passed} passed, {skipped} skipped, {failures} failed", flush=True)
        return completed.stdout, failures, passed, total

    def start(self, *args):
        member = self.start_members(1)[0]
        return self.start_proxy("--backends", f"{member.id}={member.address}", *args)

    def failed_cases(self, output):
        """The ids (http2/5.1.1/2) of the failed cases in h2spec's summary."""
        section = output.split("Failures:")[-1] if "Failures:" in output else output
        cases = []
        numbers = []
        for line in section.splitlines():
            heading = re.match(r"\s*(\d+(?:\.\d+)*)\.\s", line)
            if heading and not line.strip().startswith("×"):
                depth = len(line) - len(line.lstrip())
                numbers = [n for n in numbers if n[0] < depth] + [(depth, heading.group(1))]
            failure = re.match(r"\s*× (\d+):", line)
            if failure and numbers:
                cases.append(f"http2/{numbers[-1][1]}/{failure.group(1)}")
        return cases

    def test_auto_listener(self):
        output, failures, passed, total = self.run_h2spec(self.start())
        failed = [c for c in self.failed_cases(output) if c.startswith("http2/")]
        self.assertEqual(sorted(set(failed)), sorted({PREFACE_CASE, STREAM_ID_CASE}), output[-6000:])
        self.assertEqual(failures, 2, output[-6000:])
        self.assertEqual(passed, total - 2)

    def test_h2c_only_listener(self):
        output, failures, passed, total = self.run_h2spec(self.start("--listen-protocol", "h2c"))
        self.assertEqual(sorted(set(self.failed_cases(output))), [STREAM_ID_CASE], output[-6000:])
        self.assertEqual(failures, 1, output[-6000:])
        self.assertEqual(passed, total - 1)

    def test_tls_listener(self):
        certificate, key = os.path.join(self.workdir, "tls.crt"), os.path.join(self.workdir, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", certificate, "-days", "2", "-subj", "/CN=h2spec.test"],
                       check=True, capture_output=True)
        proxy = self.start("--tls-listen", "127.0.0.1:0", "--tls-cert", f"{certificate}:{key}")
        tls_port = int(re.search(r"listening data=.* tls=[\d.]+:(\d+)", proxy.log()).group(1))
        output, failures, passed, total = self.run_h2spec(proxy, "-t", "-k", port=tls_port)
        self.assertEqual(sorted(set(self.failed_cases(output))), [STREAM_ID_CASE], output[-6000:])
        self.assertEqual(failures, 1, output[-6000:])
        self.assertEqual(passed, total - 1)


if __name__ == "__main__":
    unittest.main()
