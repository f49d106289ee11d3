#!/usr/bin/env python3
"""Prints bench/proxy-vs-peers' result table from the files one run wrote.

  report.py RUN_DIR [--markdown]

RUN_DIR holds (tab-separated, written by proxy-vs-peers):
  meta.tsv        key, value (with --baseline: the two binaries, as proxy and baseline)
  throughput.tsv  peer, round, rps, p50_us, p99_us, requests, errors, cpu_us_per_request,
                  run_cpu_us_per_request (every process of the run: client, proxy, backends)
  memory.tsv      peer, connections, rss_before_kb, rss_after_kb, alive, fds
  paced.tsv       peer, connections, rss_before_kb, rss_after_kb, alive  (one request a second each)
  syscalls.tsv    peer, round, role (client, proxy, backends), event, count, requests  (--syscalls)
  problems.tsv    peer, phase, message   (a peer that was skipped or failed)
With several rounds a peer's rps, p50 and p99 are each the median over its rounds, and
ringlb's ratios (and the target verdicts) are medians of per-round ratios. With a
baseline (a second ringlb-proxy binary), ringlb's ratios to it are reported too, against
the A/B tolerance.
"""

import argparse
import csv
import statistics
import sys
from pathlib import Path

def peerLabels(threads: str) -> list[tuple[str, str]]:
    many = threads != "1"
    return [
        ("direct", "one NGINX backend, no proxy"),
        ("ringlb", f"ringlb-proxy, {threads} thread{'s' if many else ''}"),
        ("baseline", f"ringlb-proxy baseline, {threads} thread{'s' if many else ''}"),
        ("haproxy", f"HAProxy, nbthread {threads}"),
        ("nginx", f"NGINX proxy, {threads} worker{'s' if many else ''}"),
    ]

THROUGHPUT_TARGET = 1.10  # ringlb rps / HAProxy rps, from the proxy issue
AB_TOLERANCE = 0.03  # a change must keep throughput and p99 within 3% of its baseline


def readTsv(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    with path.open() as handle:
        return [row for row in csv.reader(handle, delimiter="\t") if row]


def medians(rows: list[list[str]]) -> dict[str, dict]:
    byPeer: dict[str, list[list[str]]] = {}
    for row in rows:
        byPeer.setdefault(row[0], []).append(row)
    result = {}
    for peer, runs in byPeer.items():
        result[peer] = {
            "rps": statistics.median(float(r[2]) for r in runs),
            "p50": statistics.median(float(r[3]) for r in runs) / 1000.0,
            "p99": statistics.median(float(r[4]) for r in runs) / 1000.0,
            "errors": sum(int(r[6]) for r in runs),
            "cpu": statistics.median(float(r[7]) for r in runs),
            "machine": statistics.median(float(r[8]) if len(r) > 8 else 0.0 for r in runs),
            "rounds": len(runs),
            "spread": (min(float(r[2]) for r in runs), max(float(r[2]) for r in runs)),
        }
    return result


def pairedRatios(rows: list[list[str]], peer: str, other: str):
    """Per-round ratios peer/other of rps, p99, CPU per request and the whole machine's CPU per
    request, or None when no round has both.

    Each round measures the peers back to back, so a ratio within one round cancels most of
    the drift of a shared machine; the verdicts use the median of these per-round ratios.
    """
    byRound: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        byRound.setdefault(row[1], {})[row[0]] = row
    rps, p99, cpu, machine = [], [], [], []
    for runs in byRound.values():
        if peer in runs and other in runs:
            mine, theirs = runs[peer], runs[other]
            rps.append(float(mine[2]) / max(float(theirs[2]), 0.01))
            p99.append(float(mine[4]) / max(float(theirs[4]), 1.0))
            cpu.append(float(mine[7]) / max(float(theirs[7]), 0.01))
            if len(mine) > 8 and len(theirs) > 8:
                machine.append(float(mine[8]) / max(float(theirs[8]), 0.01))
    return (rps, p99, cpu, machine or [float("nan")]) if rps else None


def describe(ratios: list[float]) -> str:
    text = f"{statistics.median(ratios):.2f}x"
    if len(ratios) > 1:
        text += f" (median of {len(ratios)} rounds, {min(ratios):.2f}–{max(ratios):.2f})"
    return text


def shapeName(meta: dict[str, str]) -> str:
    """The shape a run measured, in words, from its meta.tsv."""
    body = int(meta.get("body_bytes", "0"))
    if body == 0:
        bodyText = "11 B body"
    elif body % 1048576 == 0:
        bodyText = f"{body // 1048576} MB body"
    elif body % 1024 == 0:
        bodyText = f"{body // 1024} KB body"
    else:
        bodyText = f"{body} B body"
    layout = "one backend process" if meta.get("backend_layout") == "shared" else "a backend process per member"
    threads = meta.get("threads", "1")
    mode = "Connection: close" if meta.get("close") == "1" else "keep-alive"
    return (f"{layout}, {threads} thread{'s' if threads != '1' else ''} per proxy, "
            f"{meta.get('connections', '?')} connections, {bodyText}, {mode}")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    if not (args.run_dir / "meta.tsv").exists():
        parser.error(f"{args.run_dir}/meta.tsv not found: not a proxy-vs-peers run directory")
    meta = {row[0]: row[1] for row in readTsv(args.run_dir / "meta.tsv")}
    PEERS = peerLabels(meta.get("threads", "1"))
    throughputRows = readTsv(args.run_dir / "throughput.tsv")
    tput = medians(throughputRows)
    memory = {row[0]: row for row in readTsv(args.run_dir / "memory.tsv")}
    problems: dict[str, list[str]] = {}
    for peer, phase, message in readTsv(args.run_dir / "problems.tsv"):
        problems.setdefault(peer, []).append(f"{phase}: {message}")

    md = args.markdown
    out: list[str] = []

    def table(header: list[str], rows: list[list[str]]) -> None:
        if md:
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
            out.extend("| " + " | ".join(r) + " |" for r in rows)
        else:
            widths = [max(len(x) for x in col) for col in zip(header, *rows)]
            fmt = lambda r: "  ".join(  # noqa: E731
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
            out.append(fmt(header))
            out.append("  ".join("-" * w for w in widths))
            out.extend(fmt(r) for r in rows)

    rounds = meta.get("rounds", "1")
    if not meta.get("skip_throughput"):
        out.append(("#### " if md else "") + "Throughput and latency")
        out.append("")
        out.append(f"Shape: {shapeName(meta)}. wrk {meta.get('wrk_threads', '1')} thread, "
                   f"{meta.get('paths', '?')} distinct paths, {meta.get('duration', '?')} s per run after a "
                   f"{meta.get('warmup', '?')} s warm-up, {rounds} round(s)"
                   + (" (median shown)" if rounds != "1" else "")
                   + f"; {meta.get('backends', '4')} members on 127.0.0.1.")
        out.append("")
    base = tput.get("haproxy")
    multi = rounds != "1"
    rows = []
    for peer, label in PEERS:
        if peer in tput:
            t = tput[peer]
            rel = f"{t['rps'] / base['rps']:.2f}" if base else "-"
            row = [label, f"{t['rps']:,.0f}", f"{t['p50']:.2f}", f"{t['p99']:.2f}", rel,
                   f"{t['cpu']:.1f}", f"{t['machine']:.1f}", str(t["errors"])]
            if multi:
                row.insert(2, f"{t['spread'][0]:,.0f}–{t['spread'][1]:,.0f}")
            rows.append(row)
        elif peer in problems:
            skipped = all(p.startswith("setup:") for p in problems[peer])
            rows.append([label] + ["-"] * (7 if multi else 6) + ["skipped" if skipped else "failed"])
    header = ["peer", "req/s", "p50 ms", "p99 ms", "rps vs HAProxy", "CPU µs/req", "all processes CPU µs/req", "errors"]
    if multi:
        header.insert(2, "req/s range")
    if rows:
        table(header, rows)
        out.append("")

    ringlb = tput.get("ringlb")
    lines: list[str] = []
    if ringlb:
        for peer, name in (("haproxy", "HAProxy"), ("nginx", "NGINX")):
            ratios = pairedRatios(throughputRows, "ringlb", peer)
            if ratios:
                rps, p99, cpu, machine = ratios
                lines.append(f"ringlb / {name}: throughput {describe(rps)}, p99 {describe(p99)}, "
                             f"CPU per request {describe(cpu)}, all processes' CPU per request {describe(machine)}")
        ratios = pairedRatios(throughputRows, "ringlb", "baseline")
        if ratios:
            rps, p99, cpu, machine = ratios
            lines.append(f"ringlb / baseline: throughput {describe(rps)}, p99 {describe(p99)}, "
                         f"CPU per request {describe(cpu)}, all processes' CPU per request {describe(machine)}")
            for name, values in (("throughput", rps), ("p99", p99)):
                ratio = statistics.median(values)
                lines.append(f"A/B {name} within ±{AB_TOLERANCE:.0%} of the baseline: "
                             f"{verdict(abs(ratio - 1.0) <= AB_TOLERANCE)} ({ratio:.3f}x)")
        ratios = pairedRatios(throughputRows, "ringlb", "haproxy")
        if ratios:
            rps = statistics.median(ratios[0])
            p99 = statistics.median(ratios[1])
            lines.append(f"target throughput >= {THROUGHPUT_TARGET:.1f}x HAProxy: "
                         f"{verdict(rps >= THROUGHPUT_TARGET)} ({rps:.3f}x)")
            lines.append(f"target p99 <= HAProxy's: {verdict(p99 <= 1.0)} ({p99:.3f}x)")
    elif not meta.get("skip_throughput"):
        lines.append("ringlb: no throughput figures, so no ratios")

    if not meta.get("skip_memory"):
        mrows = []
        perConn: dict[str, float] = {}
        for peer, label in PEERS:
            if peer in memory:
                _, count, before, after, alive, fds = memory[peer]
                kb = (int(after) - int(before)) / int(count)
                perConn[peer] = kb
                mrows.append([label, count, alive, f"{int(before) / 1024:.1f}",
                              f"{int(after) / 1024:.1f}", f"{kb:.2f}", fds])
        memLines = []
        if "ringlb" in perConn and "haproxy" in perConn:
            r, h = perConn["ringlb"], perConn["haproxy"]
            memLines.append(f"target memory per idle connection <= HAProxy's: {verdict(r <= h)} "
                            f"({r:.2f} KB vs {h:.2f} KB)")
        elif "ringlb" not in perConn:
            memLines.append("ringlb: no memory figures, so no comparison")
        if mrows:
            out.append(("#### " if md else "") + "Memory per idle keep-alive client connection")
            out.append("")
            out.append("Each connection made one request and then stayed idle; KB/conn = (VmRSS with "
                       "the connections - VmRSS before) / connections.")
            out.append("")
            table(["peer", "connections", "still open", "RSS before MB", "RSS after MB",
                   "KB/conn", "open fds"], mrows)
            out.append("")
        lines.extend(memLines)

    paced = {row[0]: row for row in readTsv(args.run_dir / "paced.tsv")}
    if paced:
        prow = []
        pacedPerConn: dict[str, float] = {}
        for peer, label in PEERS:
            if peer in paced:
                _, count, before, after, alive = paced[peer]
                kb = (int(after) - int(before)) / int(count)
                pacedPerConn[peer] = kb
                prow.append([label, count, alive, f"{int(before) / 1024:.1f}", f"{int(after) / 1024:.1f}",
                             f"{kb:.2f}"])
        out.append(("#### " if md else "") + "Memory per connection sending one request a second")
        out.append("")
        out.append("Each connection made 5 requests, one a second, spread over each second; RSS read 1 s "
                   "after the last connection's last request (1-2 s after each connection's own).")
        out.append("")
        table(["peer", "connections", "still open", "RSS before MB", "RSS after MB", "KB/conn"], prow)
        out.append("")
        if "ringlb" in pacedPerConn and "haproxy" in pacedPerConn:
            r, h = pacedPerConn["ringlb"], pacedPerConn["haproxy"]
            lines.append(f"target memory per connection 1 s after its last request <= HAProxy's: "
                         f"{verdict(r <= h)} ({r:.2f} KB vs {h:.2f} KB)")

    syscallRows = readTsv(args.run_dir / "syscalls.tsv")
    if syscallRows:
        out.append(("#### " if md else "") + "Syscalls and context switches per request")
        out.append("")
        out.append("Counted with perf stat (tracepoints) during the measured runs; each cell is the median over "
                   "rounds of count / requests. Voluntary switches are sleeps, each ended by a wakeup.")
        out.append("")
        perRound: dict[tuple[str, str, str], list[float]] = {}
        for peer, _round, role, event, count, requests in syscallRows:
            perRound.setdefault((peer, role, event), []).append(int(count) / max(int(requests), 1))
        events = ["all syscalls"] + sorted({e for (_, _, e) in perRound} - {"all syscalls", "context-switches",
                                                                             "voluntary switches"})
        events = [e for e in events if any(statistics.median(v) >= 0.005 for (_, _, ev), v in perRound.items()
                                           if ev == e)]
        events += ["context-switches", "voluntary switches"]
        srows = []
        for peer, label in PEERS:
            for role in ("client", "proxy", "backends"):
                if not any(k[0] == peer and k[1] == role for k in perRound):
                    continue
                srows.append([f"{peer} {role}"] + [
                    f"{statistics.median(perRound[(peer, role, e)]):.2f}" if (peer, role, e) in perRound else "-"
                    for e in events])
        table(["process"] + events, srows)
        out.append("")

    out.extend(("- " if md else "") + line for line in lines)
    if problems:
        out.append("")
        out.append("Problems:")
        out.extend(f"- {peer} {message}" for peer, messages in problems.items() for message in messages)
    if meta.get("versions"):
        out.append("")
        out.append(("_" if md else "") + meta["versions"] + ("_" if md else ""))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
