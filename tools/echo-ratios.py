#!/usr/bin/env python3
"""tools/echo-ratios.py: server-CPU ratios from one ../shared/peers/run.sh run.

usage: tools/echo-ratios.py RESULTS/raw-STAMP.txt [A:B ...]

For each pair A:B (default: every prokio-* server against the raw server on
its own library, and prokio-uring against Tokio current_thread) and each
row (64 B; 16 KiB; 64 B with 16 in flight) it prints srv_us/msg of A over
that of B, taken within each round of ECHO_ROUNDS, and their median.

Why per round and not the medians of run.sh's table: on this shared VM the
whole machine's speed flips between two regimes for minutes at a time
(msgs/s and CPU per message of every server move by up to 2x together),
and the table's medians can pair a fast round of one server with a slow
round of another. A round's ratio is kept only when A's and B's msgs/s
are within 25% of each other (same regime); `n` says how many were.
"""
import re
import statistics
import sys

ROWS = [("64/1", "64 B"), ("16384/1", "16 KiB"), ("64/16", "64 B x16")]
DEFAULT_PAIRS = [
    ("prokio-uring", "uring"),
    ("prokio-uring-emu", "uring"),
    ("prokio-event", "event"),
    ("prokio-uv", "uv"),
    ("prokio-uring", "tokio-current"),
]


def load(path):
    runs = {}
    for line in open(path):
        if "server_us_per_msg=" not in line:
            continue
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        row = kv["msg_size"] + "/" + kv["depth"]
        runs[(kv["round"], kv["server"], row)] = (
            float(kv["server_us_per_msg"]),
            float(kv["msgs_per_s"]),
        )
    return runs


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    runs = load(argv[1])
    if not runs:
        print(f"{argv[1]}: no echo rows (server_us_per_msg=) in it", file=sys.stderr)
        return 1
    pairs = [tuple(p.split(":", 1)) for p in argv[2:]] or DEFAULT_PAIRS
    rounds = sorted({k[0] for k in runs}, key=int)
    for a, b in pairs:
        cells = []
        for row, label in ROWS:
            kept = []
            for r in rounds:
                if (r, a, row) not in runs or (r, b, row) not in runs:
                    continue
                (ua, ma), (ub, mb) = runs[(r, a, row)], runs[(r, b, row)]
                if 0.8 < ma / mb < 1.25:
                    kept.append(ua / ub)
            if kept:
                cells.append(
                    f"{label}: {statistics.median(kept):.3f} (n={len(kept)}: "
                    + " ".join(f"{x:.2f}" for x in kept)
                    + ")"
                )
            else:
                cells.append(f"{label}: -")
        print(f"{a} / {b}: " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
