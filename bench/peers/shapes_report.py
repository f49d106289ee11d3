#!/usr/bin/env python3
"""Prints bench/shapes' summary: one row per shape, ringlb against HAProxy and NGINX.

  shapes_report.py [--markdown] RUN_DIR [RUN_DIR ...]

Each RUN_DIR holds the result files of one bench/proxy-vs-peers run (its --results). Ratios
are medians of per-round ratios (see report.py); the target of each shape comes from issue 20:
keep-alive at 64 connections >= 1.25x HAProxy's throughput and p99 <= 0.9x; a new connection
per request >= 1.1x; 1 MB bodies >= 1.0x; every other shape a lead (> 1.0x). Memory runs
(paced.tsv, memory.tsv) get a row each: KB per connection against HAProxy's, and idle
connections at most 0.5 KB.
"""

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import pairedRatios, readTsv, shapeName  # noqa: E402

IDLE_TARGET_KB = 0.5


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def throughputTarget(meta: dict[str, str]) -> tuple[float, float | None, str]:
    """(minimum rps ratio to HAProxy, maximum p99 ratio or None, the target in words)."""
    if meta.get("close") == "1":
        return 1.10, None, ">= 1.1x"
    if int(meta.get("body_bytes", "0")) >= 1048576:
        return 1.00, None, ">= 1.0x"
    if meta.get("connections") == "64":
        return 1.25, 0.90, ">= 1.25x, p99 <= 0.9x"
    return 1.0001, None, "> 1.0x (a lead)"


def perConnection(row: list[str]) -> float:
    return (int(row[3]) - int(row[2])) / max(int(row[1]), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("run_dirs", type=Path, nargs="+")
    args = parser.parse_args()

    shapeRows: list[list[str]] = []
    memoryRows: list[list[str]] = []
    for runDir in args.run_dirs:
        if not (runDir / "meta.tsv").exists():
            parser.error(f"{runDir}/meta.tsv not found: not a proxy-vs-peers result directory")
        meta = {row[0]: row[1] for row in readTsv(runDir / "meta.tsv")}
        rows = readTsv(runDir / "throughput.tsv")
        haproxy = pairedRatios(rows, "ringlb", "haproxy") if rows else None
        nginx = pairedRatios(rows, "ringlb", "nginx") if rows else None
        if rows:
            minimum, p99Max, words = throughputTarget(meta)
            cells = [shapeName(meta), meta.get("rounds", "?")]
            if haproxy:
                rps, p99, cpu, machine = (median(r) for r in haproxy)
                ok = rps >= minimum and (p99Max is None or p99 <= p99Max)
                cells += [f"{rps:.2f}x", f"{p99:.2f}x", f"{cpu:.2f}x", f"{machine:.2f}x"]
            else:
                ok = False
                cells += ["-"] * 4
            cells.append(f"{median(nginx[0]):.2f}x" if nginx else "-")
            cells.append(f"{words}: {'met' if ok else 'MISSED'}")
            shapeRows.append(cells)
        for file, what in (("paced.tsv", "1 request/s each, RSS 1 s after the last"), ("memory.tsv", "idle")):
            memory = {row[0]: row for row in readTsv(runDir / file)}
            if "ringlb" not in memory:
                continue
            mine = perConnection(memory["ringlb"])
            theirs = perConnection(memory["haproxy"]) if "haproxy" in memory else float("nan")
            other = perConnection(memory["nginx"]) if "nginx" in memory else float("nan")
            if what == "idle":
                ok = mine <= IDLE_TARGET_KB and not (mine > theirs)
                words = f"<= {IDLE_TARGET_KB} KB and <= HAProxy"
            else:
                ok = mine <= theirs
                words = "<= HAProxy"
            memoryRows.append([f"{memory['ringlb'][1]} connections, {what}", f"{mine:.2f}", f"{theirs:.2f}",
                               f"{other:.2f}", f"{words}: {'met' if ok else 'MISSED'}"])

    out: list[str] = []

    def table(header: list[str], rows: list[list[str]]) -> None:
        if args.markdown:
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
            out.extend("| " + " | ".join(r) + " |" for r in rows)
        else:
            widths = [max(len(x) for x in col) for col in zip(header, *rows)]
            out.append("  ".join(c.ljust(w) for c, w in zip(header, widths)))
            out.append("  ".join("-" * w for w in widths))
            out.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)

    if shapeRows:
        table(["shape", "rounds", "rps / HAProxy", "p99 / HAProxy", "proxy CPU/req / HAProxy",
               "all processes' CPU/req / HAProxy", "rps / NGINX", "target"], shapeRows)
        out.append("")
    if memoryRows:
        table(["memory shape", "ringlb KB/conn", "HAProxy KB/conn", "NGINX KB/conn", "target"], memoryRows)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
