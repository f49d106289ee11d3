"""What the network-fault tests share: the proxy harness of tests/integration/proxy, toxiproxy,
and a private network namespace for the faults toxiproxy cannot make (packet loss, a partition
that drops SYNs) with iptables."""
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "proxy"))

import toxiproxy  # noqa: E402

IN_CI = os.environ.get("CI") == "true"


def require_toxiproxy(test):
    """Skips without toxiproxy-server, except in CI (CI=true), where its absence fails the test."""
    if toxiproxy.binary():
        return test
    if IN_CI:
        return test  # Toxiproxy() raises with the command that builds it
    return unittest.skip("toxiproxy is not built: bash scripts/lib/toxiproxy.sh")(test)


def in_private_netns():
    """True when run_in_netns.sh put this process in a network namespace of its own."""
    return os.environ.get("RINGLB_PRIVATE_NETNS") == "1"


def require_private_netns(test):
    if in_private_netns() and shutil.which("iptables"):
        return test
    if IN_CI:
        return test  # iptables() fails, naming what is missing
    return unittest.skip("needs tests/integration/netfaults/run_in_netns.sh (root, iptables)")(test)


def iptables(*args):
    """iptables in this process's network namespace, which must be a private one; returns its output."""
    if not in_private_netns():
        raise AssertionError("refusing to change the firewall outside a private network namespace "
                             "(run through tests/integration/netfaults/run_in_netns.sh)")
    return subprocess.run(["iptables", "-w", *args], check=True, capture_output=True, text=True).stdout


def dropped_packets():
    """Packets the DROP rules of the INPUT chain have dropped so far."""
    total = 0
    for line in iptables("-L", "INPUT", "-v", "-n", "-x").splitlines()[2:]:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "DROP":
            total += int(fields[0])
    return total


class PortDrop:
    """Drops a share (1.0: every packet) of the TCP packets to and from a loopback port: packet loss,
    or a partition in which SYNs go unanswered and established connections go silent."""

    def __init__(self, port, probability=1.0):
        self.rules = []
        for chain, direction in (("INPUT", "--dport"), ("INPUT", "--sport")):
            rule = [chain, "-p", "tcp", direction, str(port)]
            if probability < 1.0:
                rule += ["-m", "statistic", "--mode", "random", "--probability", str(probability)]
            rule += ["-j", "DROP"]
            self.rules.append(rule)

    def __enter__(self):
        for rule in self.rules:
            iptables("-A", *rule)
        return self

    def __exit__(self, *exc):
        self.lift()

    def lift(self):
        while self.rules:
            iptables("-D", *self.rules.pop())
