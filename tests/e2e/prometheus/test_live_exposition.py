"""Live /metrics of the operator, a proxy and the apod replicas: `promtool check metrics` passes and
every family matches deploy/METRICS.md (name, type, label names)."""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promlib  # noqa: E402

# Families that exist once the ring is up and a few requests went through; the rest
# (retries, ejections, errors, ...) appear with their first event.
ALWAYS = {
    "operator": ["ringlb_operator_reconciles_total", "ringlb_operator_reconcile_duration_seconds",
                 "ringlb_operator_desired_replicas", "ringlb_operator_ready_replicas",
                 "ringlb_operator_ring_version", "ringlb_operator_ring_moved_keyspace_ratio",
                 "ringlb_operator_ring_changes_total", "ringlb_operator_member_keyspace_share"],
    "proxy": ["ringlb_proxy_requests_total", "ringlb_proxy_request_duration_seconds",
              "ringlb_proxy_member_ready", "ringlb_proxy_member_keyspace_share",
              "ringlb_proxy_active_connections", "ringlb_proxy_ring_version",
              "ringlb_proxy_ring_staleness_seconds", "ringlb_proxy_ring_updates_total",
              # RingStale joins proxies to the operator's ring versions through it.
              "ringlb_proxy_ring_info"],
    "apod": ["ringlb_apod_requests_total"],
}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """({family: type}, [(sample name, {labels}, value)]) of a Prometheus text exposition."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, f"unparsable sample line: {line!r}"
            samples.append((m.group(1), dict(LABEL.findall(m.group(3) or "")), float(m.group(4))))
    return types, samples


def family_of(sample_name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name[: -len(suffix)]
        if sample_name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return sample_name


class LiveExpositionTest(unittest.TestCase):
    maxDiff = None
    @classmethod
    def setUpClass(cls):
        promlib.tool("promtool")
        cls.workdir = promlib.make_workdir("ringlb-exposition-")
        cls.processes = promlib.ProcessGroup(cls.workdir)
        try:
            cls.stack = promlib.Stack(cls.workdir, cls.processes, replicas=2, proxies=1).start()
            cls.before_traffic = {"operator": cls.fetch(f"{cls.stack.operator_url}/metrics"),
                                  "proxy": cls.fetch(f"http://127.0.0.1:{cls.stack.admin_ports[0]}/metrics")}
            _, cls.served, _, failures = promlib.counted_load(cls.stack.proxy_ports, 60)
            assert not failures, failures[:5]
            cls.expositions = {"operator": cls.fetch(f"{cls.stack.operator_url}/metrics"),
                               "proxy": cls.fetch(f"http://127.0.0.1:{cls.stack.admin_ports[0]}/metrics")}
            for member, (address, _) in sorted(cls.stack.members().items()):
                cls.expositions[f"apod {member}"] = cls.fetch(f"http://{promlib.loopback(address)}/metrics")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.processes.stop_all()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    @staticmethod
    def fetch(url):
        resp = promlib.http_get(url)
        assert resp.status == 200, f"GET {url} answered {resp.status}"
        content_type = resp.headers.get("content-type", "")
        assert content_type.startswith("text/plain"), f"GET {url}: Content-Type {content_type!r}"
        return resp.body.decode()

    def test_promtool_check_metrics(self):
        promtool = promlib.tool("promtool")
        for program, text in self.expositions.items():
            with self.subTest(program=program):
                result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                                        text=True, timeout=60)
                self.assertEqual(result.returncode, 0, f"{program}: {result.stdout}{result.stderr}")

    def test_families_match_metrics_md(self):
        documented = promlib.metric_names_in_metrics_md()
        labels = promlib.documented_labels()
        for program, text in self.expositions.items():
            component = program.split()[0]
            types, samples = parse(text)
            with self.subTest(program=program):
                ours = {n for n in types if n.startswith("ringlb_")}
                self.assertEqual(sorted(n for n in ours if n not in documented), [],
                                 f"{program} exposes metrics that deploy/METRICS.md does not define")
                for name in ours:
                    self.assertTrue(name.startswith(f"ringlb_{component}_"), f"{program}: {name} has another prefix")
                    self.assertEqual(types[name], documented[name], f"{program}: type of {name}")
                for name in ALWAYS[component]:
                    self.assertTrue(name in types, f"{program} does not expose {name}")
                for sample, sample_labels, _ in samples:
                    family = family_of(sample, types)
                    if family in labels:
                        got = set(sample_labels) - ({"le"} if sample.endswith("_bucket") else set())
                        self.assertEqual(got, labels[family], f"{program}: labels of {sample} {sample_labels}")

    def values(self, program, name):
        _, samples = parse(self.expositions[program])
        return [(labels, value) for sample, labels, value in samples if sample == name]

    def test_per_member_series_exist_at_zero_before_traffic(self):
        # deploy/METRICS.md: rate() and increase() miss whatever a series is born with.
        members = set(self.stack.members())
        want = {
            "proxy": [("ringlb_proxy_requests_total", {"member": m, "code_class": c, "protocol": p})
                      for m in members for c in ("1xx", "2xx", "3xx", "4xx", "5xx") for p in ("http1", "h2c")]
            + [("ringlb_proxy_request_duration_seconds_count", {"member": m}) for m in members],
            "operator": [(name, {"namespace": "default", "ring": promlib.RING_NAME, "member": m}) for m in members
                         for name in ("ringlb_operator_restarts_total", "ringlb_operator_heartbeat_failures_total")],
        }
        for program, series in want.items():
            _, samples = parse(self.before_traffic[program])
            present = {(name, tuple(sorted(labels.items()))) for name, labels, _ in samples}
            missing = [name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                       for name, labels in series if (name, tuple(sorted(labels.items()))) not in present]
            with self.subTest(program=program):
                self.assertFalse(missing, f"{program}: series missing before their first event: {', '.join(missing)}")

    def test_values_agree_with_the_ring(self):
        ring = self.stack.ring()
        members = {m["id"] for m in ring["members"]}
        # Keyspace shares are exact and cover the hash space, on both sides.
        for program, name in (("operator", "ringlb_operator_member_keyspace_share"),
                              ("proxy", "ringlb_proxy_member_keyspace_share")):
            shares = {labels["member"]: value for labels, value in self.values(program, name)}
            self.assertEqual(set(shares), members, name)
            self.assertAlmostEqual(sum(shares.values()), 1.0, places=9, msg=name)
        operator_shares = {l["member"]: v for l, v in self.values("operator", "ringlb_operator_member_keyspace_share")}
        proxy_shares = {l["member"]: v for l, v in self.values("proxy", "ringlb_proxy_member_keyspace_share")}
        for member in members:
            self.assertAlmostEqual(operator_shares[member], proxy_shares[member], places=12, msg=member)
        self.assertEqual([v for _, v in self.values("operator", "ringlb_operator_ring_version")], [ring["version"]])
        self.assertEqual([v for _, v in self.values("proxy", "ringlb_proxy_ring_version")], [ring["version"]])
        self.assertEqual([v for _, v in self.values("operator", "ringlb_operator_ready_replicas")], [2])
        self.assertEqual([v for _, v in self.values("operator", "ringlb_operator_desired_replicas")], [2])
        ready = {l["member"]: v for l, v in self.values("proxy", "ringlb_proxy_member_ready")}
        self.assertEqual(ready, {m: 1.0 for m in members})

    def test_request_counters_count_the_requests(self):
        proxied = {}
        for labels, value in self.values("proxy", "ringlb_proxy_requests_total"):
            self.assertRegex(labels["code_class"], r"^[1-5]xx$")
            proxied[labels["member"]] = proxied.get(labels["member"], 0) + value
        # Series exist at 0 before their first event (member "none" counts local replies).
        proxied = {m: v for m, v in proxied.items() if v != 0 or m in self.served}
        self.assertEqual(proxied, {m: float(n) for m, n in self.served.items()})
        for program in self.expositions:
            if program.startswith("apod "):
                member = program.split()[1]
                served = sum(v for l, v in self.values(program, "ringlb_apod_requests_total"))
                slots = {l["slot"] for l, _ in self.values(program, "ringlb_apod_requests_total")}
                self.assertEqual(slots, {member}, f"{program}: slot label")
                # Heartbeat probes are requests too, so the replica counts at least what it served us.
                self.assertGreaterEqual(served, self.served.get(member, 0), program)


if __name__ == "__main__":
    promlib.main()
