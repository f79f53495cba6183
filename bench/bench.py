"""bench/bench.py: the benchmark suite.  Run by bench/run (make bench).

Runs every workload with pgbench (-M prepared) in several rounds, baselines
alternating with workloads in the same round, under synchronous_commit on
and off; prints one table of medians and ratios to the baselines measured in
the same run; writes the raw numbers as CSV and draws charts with gnuplot.
QUICK=1 runs one short round, writes into a scratch folder (never into the
committed bench/results/) and marks its verdicts as indicative.
"""
import csv
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile

QUICK = os.environ.get("QUICK") == "1"
SECONDS = int(os.environ.get("BENCH_SECONDS", 1 if QUICK else 2))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 1 if QUICK else 3))
CLIENTS = [1, 2, 4, 8]
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = tempfile.mkdtemp(prefix="allocation-bench-") if QUICK else os.path.join(HERE, "results")
DB = "bench"


def verdict(met):
    """met / NOT met, marked indicative when QUICK ran one short round."""
    return ("met" if met else "NOT met") + (" (indicative: QUICK, one short round)" if QUICK else "")

SCRIPTS = {
    "floor": "INSERT INTO bench_floor (v) VALUES (random());\n",
    "spread": """\\set sku random(1, 1000)
\\set qty random(1, 5)
\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('spread-' || :o, 'sku-' || :sku, :qty);
""",
    "hot": """\\set qty random(1, 5)
\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('hot-' || :o, 'sku-hot', :qty);
""",
    "churn": """\\set sku random(1, 1000)
\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('churn-' || :o, 'sku-' || :sku, 1);
SELECT allocation.deallocate('churn-' || :o, 'sku-' || :sku);
""",
    "realloc": """SELECT allocation.change_batch_quantity('ra-' || (:client_id + 1), 0);
SELECT allocation.change_batch_quantity('ra-' || (:client_id + 1), 100);
SELECT allocation.change_batch_quantity('rb-' || (:client_id + 1), 0);
SELECT allocation.change_batch_quantity('rb-' || (:client_id + 1), 100);
""",
    "read_function": """\\set o random(1, 500000)
SELECT * FROM allocation.allocations('read-' || :o);
""",
    "read_view": """\\set o random(1, 500000)
SELECT sku, batchref FROM allocation.allocations_view WHERE orderid = 'read-' || :o;
""",
    "order1": """\\set s random(1, 1000)
\\set o random(1, 9223372036854775806)
SELECT count(*) FROM allocation.allocate_order('order-' || :o, ARRAY['sku-' || :s], ARRAY[1]);
""",
    "order3": """\\set s random(1, 333)
\\set o random(1, 9223372036854775806)
SELECT count(*) FROM allocation.allocate_order('order-' || :o,
    ARRAY['sku-' || :s, 'sku-' || (:s + 333), 'sku-' || (:s + 666)], ARRAY[1, 1, 1]);
""",
    "order10": """\\set s random(1, 100)
\\set o random(1, 9223372036854775806)
SELECT count(*) FROM allocation.allocate_order('order-' || :o,
    ARRAY['sku-' || :s, 'sku-' || (:s + 100), 'sku-' || (:s + 200), 'sku-' || (:s + 300),
          'sku-' || (:s + 400), 'sku-' || (:s + 500), 'sku-' || (:s + 600), 'sku-' || (:s + 700),
          'sku-' || (:s + 800), 'sku-' || (:s + 900)], ARRAY[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
""",
}
for n in (10, 1000, 100000):
    SCRIPTS["lines_%d" % n] = """\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('grow-' || :o, 'sku-lines-%d', 1);
""" % n
for n in (3, 10000):
    SCRIPTS["batches_%d" % n] = """\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('grow-' || :o, 'sku-batches-%d', 1);
""" % n

# (workload, clients, units per pgbench transaction, unit name)
PLAN = []
for c in CLIENTS:
    PLAN += [("tpcb-like", c, 1, "tx"), ("floor", c, 1, "tx"), ("spread", c, 1, "allocate"),
             ("hot", c, 1, "allocate")]
# the same with allocation.notify = off (no NOTIFY, see bench/README.md)
PLAN += [("spread_quiet", 4, 1, "allocate"), ("hot_quiet", 4, 1, "allocate")]
PLAN += [("churn", 4, 2, "call"), ("realloc", 1, 200, "line moved"),
         ("read_function", 4, 1, "read"), ("read_view", 4, 1, "read"),
         ("order1", 4, 1, "line"), ("order3", 4, 3, "line"), ("order10", 4, 10, "line")]
PLAN += [("lines_%d" % n, 1, 1, "allocate") for n in (10, 1000, 100000)]
PLAN += [("batches_%d" % n, 1, 1, "allocate") for n in (3, 10000)]
UNITS = {w: (u, name) for w, _, u, name in PLAN}


def psql(sql, db=DB):
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def pgbench(workload, clients, sync_commit, script_dir):
    options = "-c synchronous_commit=%s" % sync_commit
    script = workload
    if workload.endswith("_quiet"):
        options += " -c allocation.notify=off"
        script = workload[:-len("_quiet")]
    env = dict(os.environ, PGOPTIONS=options)
    args = ["pgbench", "-n", "-M", "prepared", "-T", str(SECONDS), "-c", str(clients),
            "-j", str(min(clients, 2))]
    if workload == "tpcb-like":
        args += ["-b", "tpcb-like"]
    else:
        args += ["-f", os.path.join(script_dir, script + ".sql")]
    result = subprocess.run(args + [DB], env=env, capture_output=True, text=True)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if result.returncode != 0 or not match:
        sys.exit("pgbench %s failed:\n%s%s" % (workload, result.stdout, result.stderr))
    return float(match.group(1))


def backend_memory(cur):
    cur.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
    total = int(cur.fetchone()[0])
    cur.execute("SELECT pg_backend_pid()")
    # private memory only: VmRSS also counts the shared buffers it touched
    with open("/proc/%d/status" % cur.fetchone()[0]) as status:
        rss = int(re.search(r"RssAnon:\s+(\d+) kB", status.read()).group(1))
    return total, rss


def memory_test():
    """One backend: 200,000 allocate calls and 10,000 change_batch_quantity
    calls, each its own transaction; memory before and after."""
    import psycopg2
    calls = 20000 if QUICK else 200000
    changes = 1000 if QUICK else 10000
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET synchronous_commit = off")
    allocate_loop = """DO $$ BEGIN FOR i IN 1..%d LOOP
                         PERFORM allocation.allocate('mem-%s-' || i, 'sku-' || (1 + i %% 1000), 1);
                         COMMIT;
                       END LOOP; END $$"""
    # ten lines move from ma to mb and back, every other call
    change_loop = """DO $$ BEGIN FOR i IN 1..%d LOOP
                       PERFORM allocation.change_batch_quantity(
                           CASE WHEN i %% 4 IN (1, 2) THEN 'ma' ELSE 'mb' END,
                           CASE i %% 2 WHEN 1 THEN 0 ELSE 10 END);
                       COMMIT;
                     END LOOP; END $$"""
    # warm up: every plan prepared, every cache filled, before measuring
    cur.execute(allocate_loop % (2000, "warm"))
    cur.execute(change_loop % 100)
    before = backend_memory(cur)
    cur.execute(allocate_loop % (calls, "run"))
    after_allocate = backend_memory(cur)
    cur.execute(change_loop % changes)
    after_change = backend_memory(cur)
    conn.close()
    return calls, changes, before, after_allocate, after_change


def main():
    started = datetime.datetime.now(datetime.timezone.utc)
    version = psql("SHOW server_version")
    cpus = os.cpu_count()
    script_dir = tempfile.mkdtemp(prefix="allocation-bench-")
    for name, text in SCRIPTS.items():
        with open(os.path.join(script_dir, name + ".sql"), "w") as script:
            script.write(text)

    rows = []       # (mode, round, workload, clients, tps)
    for mode in ("on", "off"):
        for round_number in range(1, ROUNDS + 1):
            for workload, clients, _, _ in PLAN:
                tps = pgbench(workload, clients, mode, script_dir)
                rows.append((mode, round_number, workload, clients, tps))
                print("  sync %-3s round %d  %-14s %d clients  %10.1f tps" % (mode, round_number, workload,
                                                                          clients, tps), flush=True)

    memory = memory_test()

    stamp = started.strftime("%Y-%m-%dT%H%M")
    os.makedirs(RESULTS, exist_ok=True)
    csv_path = os.path.join(RESULTS, "bench-%s.csv" % stamp)
    with open(csv_path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["date", "cpus", "postgresql", "synchronous_commit", "round", "workload", "clients",
                         "tps", "units_per_tx", "unit"])
        for mode, round_number, workload, clients, tps in rows:
            units, unit = UNITS.get(workload, (1, "tx"))
            writer.writerow([started.isoformat(timespec="seconds"), cpus, version, mode, round_number,
                             workload, clients, "%.1f" % tps, units, unit])

    report(rows, memory, version, cpus, csv_path)
    charts(rows, stamp)


def tps_of(rows, mode, workload, clients):
    return {r: t for m, r, w, c, t in rows if m == mode and w == workload and c == clients}


def median_ratio(rows, mode, workload, clients, baseline, baseline_clients=None):
    """Median over rounds of workload / baseline, each measured in the same round."""
    mine = tps_of(rows, mode, workload, clients)
    base = tps_of(rows, mode, baseline, baseline_clients or clients)
    return statistics.median(mine[r] / base[r] for r in mine)


def report(rows, memory, version, cpus, csv_path):
    print()
    print("allocation benchmark: PostgreSQL %s, %d CPUs, %d round(s) of %d s per point, medians" %
          (version, cpus, ROUNDS, SECONDS))
    for mode in ("on", "off"):
        print()
        print("synchronous_commit = %s" % mode)
        print("%-14s %7s %12s %16s %10s %10s" % ("workload", "clients", "tps", "units/s", "x tpcb", "x floor"))
        for workload, clients, units, unit in PLAN:
            tps = statistics.median(tps_of(rows, mode, workload, clients).values())
            print("%-14s %7d %12.1f %16s %10.2f %10.2f" % (
                workload, clients, tps, "%.0f %s" % (tps * units, unit),
                median_ratio(rows, mode, workload, clients, "tpcb-like"),
                median_ratio(rows, mode, workload, clients, "floor")))
        print("orders: lines per second against single-line allocate (spread, 4 clients):")
        for n in (1, 3, 10):
            print("  order of %2d lines  %.2f" % (n, n * median_ratio(rows, mode, "order%d" % n, 4, "spread")))
        print("history growth (time of one allocate, ratio to the smallest case):")
        for family, sizes in (("lines", (10, 1000, 100000)), ("batches", (3, 10000))):
            smallest = "%s_%d" % (family, sizes[0])
            for n in sizes:
                print("  %-8s %7d  %.2f" % (family, n,
                      1 / median_ratio(rows, mode, "%s_%d" % (family, n), 1, smallest)))

    calls, changes, before, after_allocate, after_change = memory
    print()
    print("memory of one backend (pg_backend_memory_contexts total / private RSS):")
    print("  before                    %8d kB / %8d kB" % (before[0] // 1024, before[1]))
    print("  after %6d allocate      %8d kB / %8d kB  (growth %+d kB / %+d kB)" % (
        calls, after_allocate[0] // 1024, after_allocate[1],
        (after_allocate[0] - before[0]) // 1024, after_allocate[1] - before[1]))
    print("  after %6d change_batch  %8d kB / %8d kB  (growth %+d kB / %+d kB)" % (
        changes, after_change[0] // 1024, after_change[1],
        (after_change[0] - after_allocate[0]) // 1024, after_change[1] - after_allocate[1]))

    print()
    print("targets (synchronous_commit = on unless said):")
    checks = [
        ("spread, 4 clients >= 1.2 x tpcb-like", median_ratio(rows, "on", "spread", 4, "tpcb-like"), 1.2),
        ("spread, 4 clients >= 0.7 x floor", median_ratio(rows, "on", "spread", 4, "floor"), 0.7),
        ("hot sku, 4 clients >= 0.8 x spread at 1 client",
         median_ratio(rows, "on", "hot", 4, "spread", 1), 0.8),
        ("notify off: spread, 4 clients >= 1.2 x tpcb-like",
         median_ratio(rows, "on", "spread_quiet", 4, "tpcb-like"), 1.2),
        ("notify off: spread, 4 clients >= 0.7 x floor", median_ratio(rows, "on", "spread_quiet", 4, "floor"), 0.7),
        ("notify off: hot sku, 4 clients >= 0.8 x spread at 1",
         median_ratio(rows, "on", "hot_quiet", 4, "spread", 1), 0.8),
    ]
    for label, value, goal in checks:
        print("  %-50s %.2f  %s" % (label, value, verdict(value >= goal)))
    for mode in ("on", "off"):
        for family, small, big in (("lines", 10, 100000), ("batches", 3, 10000)):
            value = 1 / median_ratio(rows, mode, "%s_%d" % (family, big), 1, "%s_%d" % (family, small))
            print("  %-50s %.2f  %s" % ("%s %d vs %d <= 1.2 x (sync %s)" % (family, big, small, mode),
                                         value, verdict(value <= 1.2)))
    growth = max(after_allocate[0] - before[0], after_change[0] - after_allocate[0]) // 1024
    print("  %-50s %d kB  %s" % ("memory flat (growth < 300 kB)", growth, verdict(growth < 300)))
    print()
    print("raw numbers: %s" % os.path.relpath(csv_path, os.path.dirname(HERE)))


def charts(rows, stamp):
    """TPS against clients, and time per allocation against history size."""
    data = os.path.join(RESULTS, "bench-%s" % stamp)
    with open(data + "-clients.dat", "w") as out:
        out.write("# clients tpcb-like floor spread hot (synchronous_commit on, medians)\n")
        for c in CLIENTS:
            out.write("%d %s\n" % (c, " ".join("%.1f" % statistics.median(tps_of(rows, "on", w, c).values())
                                             for w in ("tpcb-like", "floor", "spread", "hot"))))
    with open(data + "-history.dat", "w") as out:
        out.write("# size microseconds_per_allocate_sync_on sync_off family\n")
        for family, sizes in (("lines", (10, 1000, 100000)), ("batches", (3, 10000))):
            for n in sizes:
                on = statistics.median(tps_of(rows, "on", "%s_%d" % (family, n), 1).values())
                off = statistics.median(tps_of(rows, "off", "%s_%d" % (family, n), 1).values())
                out.write("%d %.1f %.1f %s\n" % (n, 1e6 / on, 1e6 / off, family))
            out.write("\n\n")
    script = """
set terminal pngcairo size 800,500 noenhanced
set output '{data}-clients.png'
set title 'TPS against clients (synchronous_commit on, median of {rounds} rounds)'
set xlabel 'clients'; set ylabel 'transactions per second'; set key below
set logscale x 2; set xrange [0.9:9]; set xtics ("1" 1, "2" 2, "4" 4, "8" 8); set yrange [0:*]; set grid
plot '{data}-clients.dat' using 1:2 with linespoints title 'tpcb-like', \\
     '' using 1:3 with linespoints title 'floor (one-row insert)', \\
     '' using 1:4 with linespoints title 'allocate, spread', \\
     '' using 1:5 with linespoints title 'allocate, hot sku'
set output '{data}-history.png'
set title 'Time of one allocate against history size (1 client, median)'
set xlabel 'lines already on the sku / batches of the sku'; set ylabel 'microseconds per allocate'
unset logscale; set logscale x 10; set xrange [1:200000]; set xtics auto; set key below; set yrange [0:*]
plot '{data}-history.dat' index 0 using 1:3 with linespoints title 'lines, sync off', \\
     '' index 0 using 1:2 with linespoints title 'lines, sync on', \\
     '' index 1 using 1:3 with linespoints title 'batches, sync off', \\
     '' index 1 using 1:2 with linespoints title 'batches, sync on'
""".format(data=data, rounds=ROUNDS)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print("charts: %s-clients.png, %s-history.png" % ((os.path.relpath(data, os.path.dirname(HERE)),) * 2))


def rows_from_csv(path):
    with open(path, newline="") as source:
        return [(r["synchronous_commit"], int(r["round"]), r["workload"], int(r["clients"]), float(r["tps"]))
                for r in csv.DictReader(source)]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--charts":
        # redraw the charts of a finished run from its CSV
        rows = rows_from_csv(sys.argv[2])
        ROUNDS = max(r[1] for r in rows)
        charts(rows, re.search(r"bench-(.*)\.csv$", sys.argv[2]).group(1))
    else:
        main()
