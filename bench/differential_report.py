#!/usr/bin/env python3
"""Prints the tables of bench/differential from its output directory.

results.tsv: scenario, N, view, method, round, ms (one timed statement);
reader_windows: mode, start, end (epoch seconds) of each refresh during
which pgbench read; reader_<mode>.<pid>: pgbench's per-transaction log
(client, transaction, latency us, script, end epoch s, end us).

Ratios are per round (the same change refreshed by every method in one
round), median over rounds, since the shared machine drifts between rounds.
Usage: differential_report.py OUTDIR N...
"""
import collections
import glob
import os
import statistics
import sys

out = sys.argv[1]
sizes = [int(n) for n in sys.argv[2:]]
has_diff = open(os.path.join(out, "has_diff")).read().strip() == "t"

rows = collections.defaultdict(dict)  # (scenario, N, view) -> {method: {round: ms}}
writer = collections.defaultdict(dict)  # method -> {round: ms}
writer_rows = None
with open(os.path.join(out, "results.tsv")) as f:
    for line in f:
        scen, n, view, method, rnd, ms = line.rstrip("\n").split("\t")
        if scen == "writer":
            writer[method][int(rnd)] = float(ms)
            writer_rows = int(n)
        else:
            rows[(scen, int(n), view)].setdefault(method, {})[int(rnd)] = float(ms)

med = statistics.median


def ratio(by_method, num, den):
    """median over rounds of num/den, or None"""
    a, b = by_method.get(num), by_method.get(den)
    if not a or not b:
        return None
    return med([a[r] / b[r] for r in a if r in b])


def size(n):
    return f"{n // 1000000}M" if n % 1000000 == 0 else f"{n // 1000}k"


TARGETS = {
    "append_0.1%": "<= 0.02x at 10M",
    "append_10000": "growth only",
    "all_groups": "well under 1x",
    "churn_0.1%": "<= 0.05x",
}
LABELS = {
    "append_0.1%": "append 0.1%",
    "append_10000": "append 10,000 rows",
    "all_groups": "10,000 rows, all groups",
    "churn_0.1%": "0.1% upd + 0.1% del",
}

print("Refresh after a change: median ms over rounds; ratios are per-round medians")
print("(bare = REFRESH MATERIALIZED VIEW of a plain matview of the same query)")
hdr = ("scenario", "rows", "view", "write ms", "bare ms", "pipeline full", "full/bare",
       "differential", "diff/bare", "diff/full", "target (diff/bare)")
table = [hdr]
for (scen, n, view), by in sorted(rows.items(), key=lambda kv: (list(LABELS).index(kv[0][0]), kv[0][1], kv[0][2])):
    if view == "-":
        continue
    write = rows.get((scen, n, "-"), {}).get("write", {})
    nr = len(by.get("bare", {}))
    diff = by.get("diff")
    table.append((
        LABELS.get(scen, scen), size(n), view.upper(),
        f"{med(write.values()):.1f}" if write else "",
        f"{med(by['bare'].values()):.1f}",
        f"{med(by['full'].values()):.1f}",
        f"{ratio(by, 'full', 'bare'):.3f}x",
        f"{med(diff.values()):.1f}" if diff else "pending",
        f"{ratio(by, 'diff', 'bare'):.4f}x" if diff else "pending",
        f"{ratio(by, 'diff', 'full'):.4f}x" if diff else "pending",
        TARGETS.get(scen, "") + f"  [{nr} rounds]",
    ))
widths = [max(len(r[i]) for r in table) for i in range(len(hdr))]
for i, r in enumerate(table):
    print("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))

if len(sizes) >= 2:
    lo, hi = sizes[0], sizes[-1]
    print()
    print(f"Growth {size(lo)} -> {size(hi)} rows (median ms at {size(hi)} / median ms at {size(lo)}):")
    for view in ("a", "b"):
        for scen, what in (("append_0.1%", "append 0.1% (batch grows with N)"),
                           ("append_10000", "append a fixed 10,000 rows")):
            # at 10M the 0.1% batch is the fixed one
            def get(n):
                by = rows.get((scen, n, view)) or (rows.get(("append_0.1%", n, view)) if n // 1000 == 10000 else None)
                return by
            a, b = get(lo), get(hi)
            if not a or not b:
                continue
            parts = []
            for m, name in (("bare", "bare"), ("full", "pipeline full"), ("diff", "differential")):
                if m in a and m in b:
                    parts.append(f"{name} {med(b[m].values()) / med(a[m].values()):.2f}x")
                else:
                    parts.append(f"{name} pending")
            target = " (target: differential <= 1.5x)" if scen == "append_0.1%" else ""
            print(f"  view {view.upper()}, {what}: " + ", ".join(parts) + target)

if writer:
    print()
    print(f"Writer overhead: INSERT of 10,000 rows into a {writer_rows}-row events table "
          f"(4 indexes), median ms of {len(writer['off'])} runs; ratio = per-run median vs no view")
    names = {"off": "no view (capture off)",
             "track": "full pipeline view (skip-unchanged trigger)",
             "capture": "differential view (change capture)"}
    for m in ("off", "track", "capture"):
        if m not in writer:
            print(f"  {names[m]:46s} pending")
            continue
        runs = writer[m]
        r = med([runs[k] / writer["off"][k] for k in runs])
        rm = med(runs.values()) / med(writer["off"].values())
        tgt = "  (target <= 1.3x)" if m == "capture" else ""
        print(f"  {names[m]:46s} {med(runs.values()):8.1f} ms  {r:.3f}x (ratio of medians {rm:.3f}x){tgt}")

wpath = os.path.join(out, "reader_windows")
if os.path.exists(wpath):
    windows = collections.defaultdict(list)
    for line in open(wpath):
        mode, t0, t1 = line.split()
        windows[mode].append((float(t0), float(t1)))
    print()
    print(f"Reader wait at {size(sizes[-1])} rows, view A: one client loops SELECT * FROM view WHERE user_id = $1;"
          " latencies (ms) of the reads overlapping a refresh (goal p99 < 50 ms)")
    labels = {"bare": "bare REFRESH (blocks readers)",
              "concurrently": "REFRESH CONCURRENTLY",
              "pipeline_full": "pipeline full, no unique index",
              "pipeline_full_unique": "pipeline full, unique index (CONCURRENTLY)",
              "pipeline_diff": "pipeline differential"}
    print(f"  {'refresh':44s} {'refresh ms':>10s} {'reads':>6s} {'p50':>8s} {'p99':>8s} {'max':>8s}  all reads: p99, max")
    for mode in ("bare", "concurrently", "pipeline_full", "pipeline_full_unique", "pipeline_diff"):
        if mode not in windows:
            if mode == "pipeline_diff":
                print(f"  {labels[mode]:44s} pending")
            continue
        lat_all, lat_in = [], []
        for path in glob.glob(os.path.join(out, f"reader_{mode}.[0-9]*")):
            for line in open(path):
                p = line.split()
                if len(p) < 6 or not p[2].isdigit():
                    continue
                lat = int(p[2]) / 1e6
                end = int(p[4]) + int(p[5]) / 1e6
                lat_all.append(lat)
                if any(end - lat < t1 and end > t0 for t0, t1 in windows[mode]):
                    lat_in.append(lat)

        def pct(xs, q):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")
        dur = med([t1 - t0 for t0, t1 in windows[mode]]) * 1000
        print(f"  {labels[mode]:44s} {dur:10.1f} {len(lat_in):6d} {pct(lat_in, .5):8.2f} {pct(lat_in, .99):8.2f} "
              f"{max(lat_in) * 1000 if lat_in else float('nan'):8.2f}  {pct(lat_all, .99):.2f}, "
              f"{max(lat_all) * 1000 if lat_all else float('nan'):.2f} ({len(lat_all)} reads)")
