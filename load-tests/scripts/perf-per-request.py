#!/usr/bin/env python3
"""CPU per request of two processes from one system-wide perf recording, frame by frame, and their difference.

How the edge and the ceiling server were compared in load-tests/results/20261206-edge-overheads.md:

  load-tests/run.sh --profile short --only checks --setting DOTNET_PerfMapEnabled=1 \
      --setting DOTNET_EnableWriteXorExecute=0 &            # JIT frames get names (perf-PID.map)
  perf record -F 999 -g -a -o perf.data -- sleep 40         # during the single check's pairs
  perf script -i perf.data -F pid,time,ip,sym,dso > perf.txt
  load-tests/scripts/perf-per-request.py perf.txt EDGE_PID:T0:T1:REQUESTS CEILING_PID:T0:T1:REQUESTS

T0-T1 is a window in which the process served REQUESTS requests (perf's timestamps: `perf script -F time`); the
windows of one pair follow each other. Each sample stands for 1/999 s of one CPU.
"""
import collections
import re
import sys

HZ = 999


def clean(frame):
    frame = re.sub(r"\[(OptimizedTier1|Optimized|QuickJitted|Tier0|Tier1)\]", "", frame)
    frame = re.sub(r"\b(class|valuetype|instance) ", "", frame)
    frame = re.sub(r"\[[A-Za-z0-9.]+\]", "", frame)
    frame = re.sub(r"\(/[^)]*\)$", "", frame).replace("([kernel.kallsyms])", "[k]")
    return frame.strip()[:170]


def samples(path):
    """(pid, time, frames leaf first) per sample of `perf script -F pid,time,ip,sym,dso`."""
    pid, time, frames = None, 0.0, []
    for line in open(path, errors="replace"):
        header = re.match(r"\s*(\d+)\s+([0-9.]+):", line)
        if header and not line.startswith("\t"):
            if pid is not None:
                yield pid, time, frames
            pid, time, frames = int(header.group(1)), float(header.group(2)), []
            continue
        parts = line.strip().split(" ", 1)
        if len(parts) == 2:
            frames.append(clean(parts[1]))
    if pid is not None:
        yield pid, time, frames


def main():
    path, windows = sys.argv[1], []
    for spec in sys.argv[2:4]:
        pid, start, end, requests = spec.split(":")
        windows.append((int(pid), float(start), float(end), float(requests)))
    own = [collections.Counter() for _ in windows]
    inclusive = [collections.Counter() for _ in windows]
    totals = [0, 0]
    for pid, time, frames in samples(path):
        for i, (wpid, start, end, _) in enumerate(windows):
            if pid == wpid and start <= time < end:
                totals[i] += 1
                if frames:
                    own[i][frames[0]] += 1
                    inclusive[i].update(set(frames))

    def us(i, count):
        return count * 1e6 / HZ / windows[i][3]

    for i, window in enumerate(windows):
        print(f"pid {window[0]}: {us(i, totals[i]):.2f} µs of CPU per request")
    for title, counters in (("own", own), ("inclusive", inclusive)):
        print(f"\n== {title} time, µs per request: first - second, first, second")
        keys = set(counters[0]) | set(counters[1])
        for key in sorted(keys, key=lambda k: us(1, counters[1][k]) - us(0, counters[0][k]))[:40]:
            a, b = us(0, counters[0][key]), us(1, counters[1][key])
            print(f"{a - b:6.2f} {a:6.2f} {b:6.2f}  {key}")


if __name__ == "__main__":
    main()
