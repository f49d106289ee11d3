"""The demo's chart of requests per replica over time (gnuplot), kept apart from the demo's driver
so that its two promises are tested on their own (tests/integration/operator/test_demo_chart.py):
  - where no steady load was sent (the pauses while a table is measured) the lines break: a time bin
    is drawn only when the load ran for the whole of it, so a pause is a gap, never a drop to zero;
  - the event labels never overlap: each is laid out horizontally in the first row where it clears
    the labels already placed there."""

import collections

# Plot geometry the label layout assumes (pixels): the PNG's size, the plot area's share of its
# width once the key sits outside on the right, and the width of one character of the labels' font.
WIDTH, HEIGHT = 1100, 560
PLOT_FRACTION = 0.74
CHAR_PX = 7.0
ROW_HEIGHT = 0.055      # in graph coordinates
TOP = 0.97


def bin_rates(records, active, bin_width):
    """records: (seconds, member or None, ok, steady); active: [(start, end)] while the steady load
    ran. Returns (columns, rows) where a row is (bin centre, [requests/s per column]) or None for a
    bin the load did not cover entirely (a gap). A member's value is None before the first bin it
    answered in (it was not in the ring yet), so a replica added mid-run does not rise from zero."""
    members = sorted({r[1] for r in records if r[1]}, key=lambda m: int(m.rsplit("-", 1)[1]))
    columns = members + ["failed"]
    bins = collections.defaultdict(collections.Counter)
    joined = {}  # member -> the first bin it answered in: before it, the member did not exist (no value, not 0)
    for t, member, ok, steady in records:
        if steady:
            b = int(t // bin_width)
            bins[b][member if member else "failed"] += 1
            if member:
                joined[member] = min(joined.get(member, b), b)
    if not active:
        return columns, []
    first, last = int(min(s for s, _ in active) // bin_width), int(max(e for _, e in active) // bin_width)
    rows = []
    for b in range(first, last + 1):
        start, end = b * bin_width, (b + 1) * bin_width
        covered = any(s <= start and end <= e for s, e in active)
        values = [None if b < joined.get(c, b) else bins[b][c] / bin_width for c in columns]
        rows.append(((b + 0.5) * bin_width, values) if covered else None)
    return columns, rows


def layout_labels(events, x_min, x_max):
    """events: [(seconds, text)]. Returns [(seconds, text, row, (left, right))], the extent in
    seconds, with no two labels of one row overlapping. A label sits right of its event's line, or
    left of it where it would otherwise run past x_max."""
    span = max(x_max - x_min, 1e-9)
    seconds_per_px = span / (WIDTH * PLOT_FRACTION)
    pad = 6 * seconds_per_px
    row_ends = []
    placed = []
    for t, text in sorted(events):
        width = len(text) * CHAR_PX * seconds_per_px
        left = t + 2 * seconds_per_px
        right = left + width
        if right > x_max:  # would run past the plot into the key: the label goes left of its line
            right = t - 2 * seconds_per_px
            left = right - width
        row = next((i for i, end in enumerate(row_ends) if end + pad <= left), len(row_ends))
        if row == len(row_ends):
            row_ends.append(right)
        else:
            row_ends[row] = right
        placed.append((t, text, row, (left, right)))
    return placed


def overlapping(placed):
    """Pairs of laid-out labels whose boxes intersect (the same row and overlapping extents)."""
    out = []
    for i, (_, a, row_a, (l_a, r_a)) in enumerate(placed):
        for _, b, row_b, (l_b, r_b) in placed[i + 1:]:
            if row_a == row_b and l_a < r_b and l_b < r_a:
                out.append((a, b))
    return out


def gnuplot_script(data_path, png_path, title, columns, events, x_min, x_max):
    """The gnuplot program: one line per column, dashed event markers, labels laid out above."""
    placed = layout_labels(events, x_min, x_max)
    rows = 1 + max((p[2] for p in placed), default=0)
    escape = lambda s: s.replace("'", "''")
    script = [
        f"set terminal png size {WIDTH},{HEIGHT}",
        f"set output '{escape(png_path)}'",
        f"set title '{escape(title)}'",
        "set xlabel 'seconds since start'", "set ylabel 'requests/s'", "set key outside right", "set grid",
        f"set xrange [{x_min:.2f}:{x_max:.2f}]",
        # Headroom above the data for the label rows.
        f"set yrange [0:*]", f"set offsets 0, 0, graph {min(0.6, 0.1 + rows * ROW_HEIGHT * 1.4):.2f}, 0",
    ]
    for t, text, row, (left, right) in placed:
        y = TOP - row * ROW_HEIGHT
        script.append(f"set arrow from {t:.2f}, graph 0 to {t:.2f}, graph {y:.3f} nohead dt 2 lc rgb '#888888'")
        side = "right offset -0.2,0" if right <= t else "left offset 0.2,0"
        script.append(f"set label '{escape(text)}' at {t:.2f}, graph {y:.3f} {side} font ',8'")
    plots = [f"'{escape(data_path)}' using 1:{i + 2} with lines lw 2 title '{escape(c)}'" for i, c in enumerate(columns)]
    script.append("plot " + ", ".join(plots))
    return "\n".join(script), placed


def write_data(path, columns, rows):
    """gnuplot data: a blank line for every gap, which breaks the lines there; NaN (no point, and
    no line through it) where a member did not exist yet."""
    with open(path, "w") as f:
        f.write("# seconds " + " ".join(columns) + "\n")
        for row in rows:
            if row is None:
                f.write("\n")
                continue
            centre, values = row
            f.write(f"{centre:.2f} " + " ".join("NaN" if v is None else f"{v:g}" for v in values) + "\n")
