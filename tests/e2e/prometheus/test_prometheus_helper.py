"""scripts/lib/prometheus.sh: ensure_prometheus, prometheus_start and prometheus_stop on a real Prometheus."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promlib  # noqa: E402


def bash(script, timeout=90):
    return subprocess.run(["bash", "-c", f"set -eu; source {promlib.PROMETHEUS_SH}; {script}"],
                          capture_output=True, text=True, timeout=timeout)


class PrometheusHelperTest(unittest.TestCase):
    def setUp(self):
        promlib.tool("prometheus")
        promlib.tool("promtool")
        self.dir = tempfile.mkdtemp(prefix="ringlb-prom-helper-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        # Whatever happens, stop what prometheus_start started.
        self.addCleanup(bash, f"prometheus_stop {self.dir}")

    def test_ensure_prometheus_accepts_the_installed_version(self):
        result = bash("ensure_prometheus && echo ok")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "ok")

    def test_start_scrape_evaluate_rules_and_stop(self):
        config = os.path.join(self.dir, "prometheus.yml")
        targets = os.path.join(self.dir, "self.json")
        with open(targets, "w") as f:
            f.write("[]")
        with open(config, "w") as f:
            f.write(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{promlib.RULES_FILE}"]
scrape_configs:
  - job_name: self
    file_sd_configs: [{{files: ["{targets}"], refresh_interval: 1s}}]
""")
        result = bash(f"prometheus_start {self.dir} {config}")
        self.assertEqual(result.returncode, 0, result.stderr)
        url = result.stdout.strip()
        self.assertRegex(url, r"^http://127\.0\.0\.1:\d+$")
        port = int(url.rsplit(":", 1)[1])
        self.assertNotEqual(port, 9090, "must not be the system service's port")
        with open(os.path.join(self.dir, "prometheus.pid")) as f:
            pid = int(f.read())
        self.assertIn(f"--storage.tsdb.path={self.dir}/data", promlib.cmdline(pid))

        # Point it at itself and see the scrape arrive through file_sd.
        with open(targets + ".tmp", "w") as f:
            f.write(f'[{{"targets": ["127.0.0.1:{port}"]}}]')
        os.replace(targets + ".tmp", targets)
        prom = promlib.Prometheus.attach(url)
        promlib.wait_until("Prometheus scraping itself",
                           lambda: prom.values_by('up{job="self"}', "job").get("self") == 1.0, timeout=30)
        self.assertEqual(len(prom.rules()), 10)
        # Not yet evaluated rules carry Go's zero time.
        promlib.wait_until("every rule evaluated",
                           lambda: all(not r["lastEvaluation"].startswith("0001") for r in prom.rules()), timeout=20)
        for r in prom.rules():
            self.assertEqual(r["health"], "ok", f"{r['name']}: {r.get('lastError')}")

        result = bash(f"prometheus_stop {self.dir}")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "prometheus.pid")))
        deadline = time.monotonic() + 5
        while promlib._alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse(promlib._alive(pid), "prometheus_stop left the process running")

    def test_start_rejects_a_bad_config_naming_it(self):
        config = os.path.join(self.dir, "broken.yml")
        with open(config, "w") as f:
            f.write("global: {scrape_interval: often}\n")
        result = bash(f"prometheus_start {self.dir} {config}")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(config, result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "prometheus.pid")))


if __name__ == "__main__":
    promlib.main()
