"""A private network namespace (netns) for tests whose Pods need addresses the API server accepts in
EndpointSlices.

The node agent gives Pods loopback addresses (127.0.<n>.<m>), and the real EndpointSlice
controller cannot publish those: kube-apiserver refuses an endpoint "in the loopback range
(127.0.0.0/8, ::1/128)" (k8s.io/kubernetes pkg/apis/core/validation, ValidateEndpointIP). A test
that needs real EndpointSlices runs inside a network namespace of its own whose only interface is
`lo`, with SUBNET (default 10.244.0.0/16) made local on it (`ip route add local SUBNET dev lo`),
and gives its node agent pod_subnet="10.244". Those addresses exist only in that namespace: it has
no other interface and no route, so nothing sent there can leave it.

    python3 tests/e2e/pod_network.py [--subnet 10.244.0.0/16] -- COMMAND ARGS...

Before entering the namespace (where no registry is reachable) it resolves, outside, the tools the
tests would otherwise fetch or build on first use: the control plane, kubectl and helm, and the
Prometheus Operator (scripts/lib/*.sh), exporting their RINGLB_* variables. A tool that cannot be
had is passed in as RINGLB_POD_NETWORK_UNAVAILABLE (the reason), so the tests skip with it, or fail
under CI=true. As root the namespace is made with `unshare --net`; otherwise `unshare --user
--map-root-user --net` (unprivileged user namespaces)."""

import ipaddress
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_SUBNET = "10.244.0.0/16"
SUBNET_VAR = "RINGLB_POD_NETWORK"
UNAVAILABLE_VAR = "RINGLB_POD_NETWORK_UNAVAILABLE"
PROMETHEUS_OPERATOR_SCRIPT = os.path.join(ROOT, "scripts", "lib", "prometheus-operator.sh")
PROMETHEUS_OPERATOR_VARS = ["RINGLB_PROMETHEUS_OPERATOR", "RINGLB_PROMETHEUS_OPERATOR_CRDS", "RINGLB_PROMETHEUS_K8S"]


def problem():
    """None when this process runs inside such a namespace, else why not (a sentence)."""
    subnet = os.environ.get(SUBNET_VAR)
    if not subnet:
        return f"not started through tests/e2e/pod_network.py ({SUBNET_VAR} unset)"
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.splitlines()
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links if line.strip())
    if names != ["lo"]:
        return f"the network namespace has interfaces other than lo: {names}"
    routes = subprocess.run(["ip", "route", "show", "table", "local"], capture_output=True, text=True).stdout
    if f"local {subnet} dev lo" not in routes:
        return f"{subnet} is not local on lo here:\n{routes}"
    return None


def pod_subnet_prefix():
    """"10.244" for 10.244.0.0/16: what NodeAgent(pod_subnet=...) takes."""
    net = ipaddress.ip_network(os.environ[SUBNET_VAR])
    if net.prefixlen != 16:
        raise ValueError(f"{net}: the node agent numbers Pods <a>.<b>.<node>.<n>, which needs a /16")
    return ".".join(str(net.network_address).split(".")[:2])


def _resolve_tools(env):
    """Fills env with the RINGLB_* paths of every tool, or names what is missing."""
    sys.path.insert(0, HERE)
    import kube_cluster as kc  # noqa: PLC0415
    try:
        for name, path in kc.control_plane_binaries().items():
            env[kc.BINARY_VARS[name]] = path
        found = {}
        for script, names, timeout in ((kc.KUBE_TOOLS_SCRIPT, ["RINGLB_KUBECTL", "RINGLB_HELM3", "RINGLB_HELM4"], 900),
                                       (PROMETHEUS_OPERATOR_SCRIPT, PROMETHEUS_OPERATOR_VARS, 3600)):
            given = {var: env.get(var) for var in names}
            found.update(given if all(given.values()) else kc._script_paths(script, names, timeout))
        for var, path in found.items():
            if not path or not os.path.exists(path):
                raise kc.Unavailable(f"{var} missing ({path!r})")
            env[var] = path
    except (kc.Unavailable, subprocess.TimeoutExpired) as e:
        env[UNAVAILABLE_VAR] = str(e)


def main(argv):
    subnet = DEFAULT_SUBNET
    if argv[:1] == ["--subnet"]:
        subnet, argv = argv[1], argv[2:]
    if argv[:1] != ["--"] or len(argv) < 2:
        sys.exit(f"usage: {sys.argv[0]} [--subnet CIDR] -- COMMAND ARGS...")
    subnet = str(ipaddress.ip_network(subnet))
    env = dict(os.environ, **{SUBNET_VAR: subnet})
    _resolve_tools(env)
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--net"]
    setup = (f'ip link set lo up && ip route add local {subnet} dev lo table local && exec "$@"')
    os.execvpe(unshare[0], [*unshare, "--", "sh", "-c", setup, "sh", *argv[1:]], env)


if __name__ == "__main__":
    main(sys.argv[1:])
