"""scripts/lib/pids.sh, which ./scripts/demo uses for its pids file: a process is signalled only
while it is still the one recorded (same PID and start time), so a pids file left behind by
--keep-running never makes a later run signal a process that reused one of its PIDs."""

import os
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PIDS = os.path.join(ROOT, "scripts", "lib", "pids.sh")


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def alive(process):
    return process.poll() is None


def sh(script, *args):
    return subprocess.run(["bash", "-c", f'source "{PIDS}"; {script}', "sh", *args], capture_output=True, text=True,
                          timeout=30)


class PidFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.file = os.path.join(self.dir.name, "pids")
        self.bystander = subprocess.Popen(["sleep", "120"])

    def tearDown(self):
        if alive(self.bystander):
            self.bystander.kill()
        self.bystander.wait()
        self.dir.cleanup()

    def test_a_reused_pid_is_not_signalled(self):
        # The file says our process had this PID but started at another tick: the PID was reused.
        with open(self.file, "w") as f:
            f.write(f"{self.bystander.pid} {start_time(self.bystander.pid) - 1}\n")
        result = sh('pidfile_signal "$1" TERM', self.file)
        self.assertEqual(result.returncode, 0, result.stderr)
        time.sleep(0.3)
        self.assertTrue(alive(self.bystander), "the process that reused the PID was signalled")
        self.assertIn(f"not signalling pid {self.bystander.pid}", result.stderr)
        self.assertIn("reused PID", result.stderr)

    def test_a_line_without_start_time_is_not_signalled(self):
        # The old format (a bare PID) cannot be checked, so it is never trusted.
        with open(self.file, "w") as f:
            f.write(f"{self.bystander.pid}\n")
        result = sh('pidfile_signal "$1" TERM', self.file)
        time.sleep(0.3)
        self.assertTrue(alive(self.bystander))
        self.assertIn("records no start time", result.stderr)

    def test_the_recorded_process_is_signalled(self):
        result = sh('pidfile_add "$1" "$2" && pidfile_signal "$1" TERM', self.file, str(self.bystander.pid))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.file) as f:
            self.assertEqual(f.read().split(), [str(self.bystander.pid), str(start_time(self.bystander.pid))])
        self.assertEqual(self.bystander.wait(timeout=20), -15)

    def test_a_process_that_is_gone_is_skipped_quietly(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        with open(self.file, "w") as f:
            f.write(f"{gone.pid} 12345\n")
        result = sh('pidfile_signal "$1" TERM', self.file)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stderr, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
