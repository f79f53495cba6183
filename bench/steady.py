"""bench/steady.py: the throughput of a pgbench run once its connections are
warm, for bench.py and router.py.

A backend's first call loads the catalogs and plans the statements it runs
(about 25 ms against 1 ms warm); 64 new connections pay that together, so a
3 s run at 64 clients counted about a second of start-up as a stall (the hot
sku at 64 clients measured 0.10 x one client that way, 0.6 to 0.7 x warm).
Users run on pooled, warm connections: every point is run for WARMUP s more
than it counts, and its tps is the mean of pgbench's per-second progress
reports after the first WARMUP s.  pgbench may skip the report of its last
second, so it runs one second longer than that and the extra second is not
counted.
"""
import os
import re
import statistics
import subprocess
import sys

WARMUP = int(os.environ.get("BENCH_WARMUP", 2))


def steady_tps(args, seconds, env=None):
    """Run pgbench (args without -T and -P) for WARMUP + seconds (+ 1), in
    environment env (None: this process's), and return the mean tps of the
    seconds after the warm-up."""
    result = subprocess.run(["pgbench", "-T", str(WARMUP + seconds + 1), "-P", "1"] + args,
                            capture_output=True, text=True, env=env)
    counted = [float(tps) for at, tps in re.findall(r"progress: ([0-9.]+) s, ([0-9.]+) tps", result.stderr)
               if WARMUP + 0.5 < float(at) < WARMUP + seconds + 0.5]
    if result.returncode != 0 or len(counted) != seconds:
        sys.exit("pgbench %s failed:\n%s%s" % (" ".join(args), result.stdout, result.stderr))
    return statistics.mean(counted)
