"""bench/bench.py: the benchmark suite.  Run by bench/run (make bench).

Throughput workloads are pgbench runs, in several rounds; each round
measures the workloads and their baselines one after the other, and every
ratio is the median over rounds of workload / baseline of the same round.
Single calls (huge orders, big reallocations, one long transaction) are
timed from Python, best of the rounds.  Prints one report, writes the raw
numbers as CSV and draws charts with gnuplot.

QUICK=1 runs one short round, writes into a scratch folder (never into the
committed bench/results/) and marks its verdicts as indicative.

Environment (bench/run sets it): PG* for the main cluster (default
settings), STREAM_PORT for a cluster with wal_level = logical, BOUNCER_PORT
for PgBouncer in front of the main cluster (transaction pooling, 4 server
connections), REDIS_PORT for a redis-server (appendonly yes, appendfsync
always) that allocation-relay and allocation-consumer use.
"""
import csv
import datetime
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

from steady import WARMUP, steady_tps

QUICK = os.environ.get("QUICK") == "1"
SECONDS = int(os.environ.get("BENCH_SECONDS", 1 if QUICK else 3))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 1 if QUICK else 3))
CLIENTS = [1, 4, 16, 64]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = tempfile.mkdtemp(prefix="allocation-bench-") if QUICK else os.path.join(HERE, "results")
DB = "bench"
STREAM_PORT = os.environ.get("STREAM_PORT")
BOUNCER_PORT = os.environ.get("BOUNCER_PORT")
REDIS_PORT = os.environ.get("REDIS_PORT")

SCRIPTS = {
    "spread": """\\set sku random(1, 1000)
\\set qty random(1, 5)
\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('spread-' || :o, 'sku-' || :sku, :qty);
""",
    "hot": """\\set qty random(1, 5)
\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('hot-' || :o, 'sku-hot', :qty);
""",
    # PostgreSQL alone on a hot row: what this machine does when every
    # client changes one row, the baseline the hot sku is measured against
    "hot_row": """\\set delta random(-5000, 5000)
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = 1;
""",
    # the ceilings the targets are read against: a durable transaction of
    # one row inserted into a table without indexes (the least a call that
    # writes can cost here), and two allocations in two transactions (what
    # a checkout would be if holding and confirming each cost an allocate)
    "one_row": """\\set a random(1, 1000000)
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :a, 0, CURRENT_TIMESTAMP);
""",
    "spread_twice": """\\set sku random(1, 1000)
\\set other random(1, 1000)
\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('twice-' || :o, 'sku-' || :sku, 1);
SELECT allocation.allocate('twice2-' || :o, 'sku-' || :other, 1);
""",
    # a checkout: hold on the checkout page, confirm on payment (two calls)
    "checkout": """\\set sku random(1, 1000)
\\set o random(1, 9223372036854775806)
SELECT allocation.hold('cart-' || :o, 'sku-' || :sku, 1, '15 minutes');
SELECT count(*) FROM allocation.confirm_hold('cart-' || :o, 'paid-' || :o);
""",
    "expired": """\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('exp-' || :o, 'sku-expired', 1);
""",
    "fresh": """\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('exp-' || :o, 'sku-fresh', 1);
""",
    "partly_3": """\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('partly-' || :o, 'sku-partly-3', 2);
""",
    "partly_20000": """\\set o random(1, 9223372036854775806)
SELECT allocation.allocate('partly-' || :o, 'sku-partly-20000', 2);
""",
}


def verdict(met):
    """met / NOT met, marked indicative when QUICK ran one short round."""
    return ("met" if met else "NOT met") + (" (indicative: QUICK, one short round)" if QUICK else "")


def psql(sql, db=DB, port=None):
    args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql]
    if port:
        args += ["-p", port]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def pgbench(script_dir, workload, clients, seconds=None, port=None, host=None, mode="prepared", rate=None, db=DB,
            settings=None):
    """tps of workload at clients (steady_tps); settings: server settings
    for its sessions, as a dict (PGOPTIONS)."""
    args = ["-n", "-M", mode, "-c", str(clients), "-j", str(min(clients, 4))]
    if port:
        args += ["-p", port]
    if host:
        args += ["-h", host]
    if rate:
        args += ["--rate", str(rate)]
    if workload == "tpcb-like":
        args += ["-b", "tpcb-like"]
    else:
        args += ["-f", os.path.join(script_dir, workload + ".sql")]
    env = None
    if settings:
        env = dict(os.environ, PGOPTIONS=" ".join("-c %s=%s" % item for item in settings.items()))
    return steady_tps(args + [db], seconds or SECONDS, env)


def write_expired_holds():
    """10,000 holds on sku-expired that expired a minute ago, not reclaimed."""
    psql("""DELETE FROM allocation.holds WHERE sku = 'sku-expired';
            INSERT INTO allocation.holds (holdid, sku, qty, batch_reference, expires_at)
            SELECT 'old-' || i, 'sku-expired', 1, 'expired-b', now() - interval '1 minute'
            FROM generate_series(1, 10000) AS i""")


# -- pgbench rounds -------------------------------------------------------------

def throughput(script_dir):
    """rows of (round, workload, clients, tps)"""
    plan = []
    for c in CLIENTS:
        plan += [(w, c) for w in ("tpcb-like", "spread", "hot", "hot_row")]
        if c == 4:
            # read against spread and tpcb-like at 4, so measured next to them
            plan += [("one_row", 4), ("checkout", 4), ("spread_twice", 4)]
    plan += [("partly_3", 1), ("partly_20000", 1), ("fresh", 1), ("expired", 1)]
    rows = []
    for round_number in range(1, ROUNDS + 1):
        for workload, clients in plan:
            if workload == "expired":
                write_expired_holds()
            tps = pgbench(script_dir, workload, clients)
            rows.append((round_number, workload, clients, tps))
            print("  round %d  %-14s %2d clients  %10.1f tps" % (round_number, workload, clients, tps), flush=True)
        if BOUNCER_PORT:
            # PgBouncer 1.18 keeps no prepared statement across server
            # connections: extended protocol, unnamed statements
            tps = pgbench(script_dir, "hot", 64, port=BOUNCER_PORT, host="127.0.0.1", mode="extended")
            rows.append((round_number, "hot_pgbouncer", 64, tps))
            print("  round %d  %-14s %2d clients  %10.1f tps" % (round_number, "hot_pgbouncer", 64, tps), flush=True)
    return rows


def tps_of(rows, workload, clients):
    return {r: t for r, w, c, t in rows if w == workload and c == clients}


def median_tps(rows, workload, clients):
    return statistics.median(tps_of(rows, workload, clients).values())


def median_ratio(rows, workload, clients, baseline, baseline_clients=None):
    """Median over rounds of workload / baseline, each measured in the same round."""
    mine = tps_of(rows, workload, clients)
    base = tps_of(rows, baseline, baseline_clients or clients)
    return statistics.median(mine[r] / base[r] for r in mine if r in base)


# -- the event stream and the command stream (Redis) ---------------------------

def redis_client():
    import redis
    return redis.Redis(host="127.0.0.1", port=int(REDIS_PORT), decode_responses=True)


def cpu_seconds(pid):
    """User and system CPU time a process has used."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(test, seconds=60):
    deadline = time.monotonic() + seconds
    while not test():
        if time.monotonic() > deadline:
            sys.exit("bench: gave up waiting")
        time.sleep(0.01)


class StreamLatency(threading.Thread):
    """Reads allocation:events as entries arrive; notes each one's delay
    from its transaction's time (occurred_at) to its arrival in Redis."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen, self.stop = [], False

    def run(self):
        r = redis_client()
        last = "$"
        while not self.stop:
            for _, entries in r.xread({"allocation:events": last}, block=50) or []:
                now = datetime.datetime.now(datetime.timezone.utc)
                for entry, fields in entries:
                    occurred = datetime.datetime.fromisoformat(fields["occurred_at"].replace("Z", "+00:00"))
                    self.seen.append((now - occurred).total_seconds())
                    last = entry


def stream(script_dir, rows):
    """On the wal_level = logical cluster, in each round: spread at 4
    clients without a slot, then with allocation-relay draining a new slot
    into Redis (the relay's CPU per 1,000 events and its rate, events
    behind at the end); then the commit-to-stream p99 at half that rate;
    WAL per allocation with wal_level replica and logical."""
    r = redis_client()
    dsn = "dbname=%s port=%s" % (DB, STREAM_PORT)
    url = "redis://127.0.0.1:%s/0" % REDIS_PORT
    stream_rows, cpu_per_1000, rates, lags = [], [], [], []

    def start_relay(setup=True):
        if setup:
            r.flushall()
            psql("SELECT allocation.stream_setup('bench')", port=STREAM_PORT)
        relay = subprocess.Popen(["allocation-relay", "--dsn", dsn, "--slot", "bench", "--redis", url],
                                 stderr=subprocess.PIPE, text=True)
        for line in relay.stderr:           # streaming: the first event will be read
            if "streaming slot" in line:
                break
        threading.Thread(target=relay.stderr.read, daemon=True).start()
        return relay

    def stop_relay(relay):
        relay.terminate()
        relay.wait()
        psql("SELECT allocation.stream_teardown('bench')", port=STREAM_PORT)

    for round_number in range(1, ROUNDS + 1):
        tps = pgbench(script_dir, "spread", 4, port=STREAM_PORT)
        stream_rows.append((round_number, "spread_noslot", 4, tps))
        relay = start_relay()
        try:
            first = int(psql("SELECT coalesce(max(id), 0) FROM allocation.events", port=STREAM_PORT))
            cpu_before, started = cpu_seconds(relay.pid), time.monotonic()
            tps = pgbench(script_dir, "spread", 4, port=STREAM_PORT)
            committed = int(psql("SELECT count(*) FROM allocation.events WHERE id > %d" % first, port=STREAM_PORT))
            lags.append(committed - r.xlen("allocation:events"))
            wait_for(lambda: r.xlen("allocation:events") >= committed)
            seconds, cpu = time.monotonic() - started, cpu_seconds(relay.pid) - cpu_before
        finally:
            stop_relay(relay)
        stream_rows.append((round_number, "spread_stream", 4, tps))
        cpu_per_1000.append(cpu / (committed / 1000))
        rates.append(committed / seconds)
        print("  round %d  %-14s %2d clients  %10.1f tps, relay: %.0f events/s, %.4f CPU s per 1,000 events, "
              "%d behind at the end" % (round_number, "spread_stream", 4, tps, rates[-1], cpu_per_1000[-1], lags[-1]),
              flush=True)
    rows.extend(stream_rows)

    # The relay at full speed: a backlog of single-event transactions
    # committed while it was stopped, drained into Redis.
    backlog = 5000 if QUICK else 20000
    r.flushall()
    psql("SELECT allocation.stream_setup('bench')", port=STREAM_PORT)
    subprocess.run(["pgbench", "-n", "-M", "prepared", "-t", str(backlog // 4), "-c", "4", "-j", "4", "-p", STREAM_PORT,
                    "-f", os.path.join(script_dir, "spread.sql"), DB], check=True, capture_output=True)
    relay = start_relay(setup=False)
    try:
        cpu_before, started = cpu_seconds(relay.pid), time.monotonic()
        wait_for(lambda: r.xlen("allocation:events") >= backlog)
        drain_seconds, drain_cpu = time.monotonic() - started, cpu_seconds(relay.pid) - cpu_before
    finally:
        stop_relay(relay)
    print("  relay draining a backlog of %d transactions: %.0f events/s, %.4f CPU s per 1,000 events"
          % (backlog, backlog / drain_seconds, drain_cpu / (backlog / 1000)), flush=True)

    rate = int(median_tps(stream_rows, "spread_stream", 4) / 2)
    relay = start_relay()
    try:
        latency = StreamLatency()
        latency.start()
        pgbench(script_dir, "spread", 4, seconds=max(SECONDS, 5), port=STREAM_PORT, rate=rate)
        time.sleep(1)
        latency.stop = True
        latency.join()
    finally:
        stop_relay(relay)
    latencies = sorted(latency.seen)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    wal_logical = wal_bytes_per_allocation(script_dir, STREAM_PORT)
    wal_replica = wal_bytes_per_allocation(script_dir, None)
    return {"lag_events": statistics.median(lags), "rate": rate, "p99_ms": p99 * 1000,
            "events_timed": len(latencies), "wal_replica": wal_replica, "wal_logical": wal_logical,
            "relay_cpu_per_1000": statistics.median(cpu_per_1000), "relay_events_per_s": statistics.median(rates),
            "drain_events_per_s": backlog / drain_seconds, "drain_cpu_per_1000": drain_cpu / (backlog / 1000)}


def commands(rows):
    """allocate commands through allocation:commands, applied by
    allocation-consumer on the main cluster: in each round, N commands
    queued, then the consumer started; commands per second until the last
    result, beside direct allocate calls from one client (spread at 1)."""
    r = redis_client()
    n = 5000 if QUICK else 20000
    for round_number in range(1, ROUNDS + 1):
        r.flushall()
        pipe = r.pipeline(transaction=False)
        for i in range(n):
            pipe.xadd("allocation:commands", {"command": "allocate", "payload": json.dumps(
                {"orderid": "cmd-%d-%d-%d" % (os.getpid(), round_number, i),
                 "sku": "sku-%d" % random.randint(1, 1000), "qty": random.randint(1, 5)})})
        pipe.execute()
        started = time.monotonic()
        consumer = subprocess.Popen(["allocation-consumer", "--dsn", "dbname=%s" % DB,
                                     "--redis", "redis://127.0.0.1:%s/0" % REDIS_PORT], stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: r.xlen("allocation:results") >= n, seconds=300)
            per_second = n / (time.monotonic() - started)
        finally:
            consumer.terminate()
            consumer.wait()
        rows.append((round_number, "commands_stream", 1, per_second))
        print("  round %d  %-14s %2d consumer %10.1f commands/s" % (round_number, "commands_stream", 1, per_second),
              flush=True)


def wal_bytes_per_allocation(script_dir, port):
    """WAL written per allocation (spread, 4 clients, 500 each): the least
    of three runs, since the first change of a page after a checkpoint
    writes the whole page."""
    args = ["pgbench", "-n", "-M", "prepared", "-t", "500", "-c", "4", "-j", "4",
            "-f", os.path.join(script_dir, "spread.sql"), DB] + (["-p", port] if port else [])
    results = []
    for _ in range(3):
        before = psql("SELECT pg_current_wal_insert_lsn()", port=port)
        count_before = int(psql("SELECT count(*) FROM allocation.events", port=port))
        subprocess.run(args, check=True, capture_output=True)
        after = psql("SELECT pg_current_wal_insert_lsn()", port=port)
        count = int(psql("SELECT count(*) FROM allocation.events", port=port)) - count_before
        results.append(int(psql("SELECT pg_wal_lsn_diff('%s', '%s')" % (after, before), port=port)) / count)
    return min(results)


# -- single calls ---------------------------------------------------------------

def rss_anon(pid):
    with open("/proc/%d/status" % pid) as status:
        return int(re.search(r"RssAnon:\s+(\d+) kB", status.read()).group(1))


class PeakMemory(threading.Thread):
    """Samples a backend's private memory (RssAnon) until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_anon(self.pid))
            time.sleep(0.01)


def single_calls():
    """Time (and, for orders, peak backend memory) of big single calls."""
    sizes = {"order_big": [1000, 10000, 100000], "realloc_big": [500, 5000, 50000], "one_txn": [2000, 20000]}
    if QUICK:
        sizes = {"order_big": [1000, 10000], "realloc_big": [500, 5000], "one_txn": [200, 2000]}
    psql("DROP DATABASE IF EXISTS bench_big", db="postgres")
    psql("CREATE DATABASE bench_big", db="postgres")
    conn = psycopg2.connect(dbname="bench_big")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION allocation")
    n = max(sizes["order_big"])
    cur.execute("SELECT count(allocation.add_batch('b' || i, 's' || i, 1000000, NULL)) FROM generate_series(1, %s) i", (n,))
    cur.execute("VACUUM ANALYZE")
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM allocation.allocate_order('warm', ARRAY['s1'], ARRAY[1])")
    idle = rss_anon(pid)
    results = []      # (kind, size, seconds, peak kB above idle)
    for round_number in range(ROUNDS):
        for size in sizes["order_big"]:
            peak = PeakMemory(pid)
            peak.start()
            started = time.perf_counter()
            cur.execute("SELECT count(*) FROM allocation.allocate_order(%s, "
                        "ARRAY(SELECT 's' || i FROM generate_series(1, %s) i), "
                        "ARRAY(SELECT 1 FROM generate_series(1, %s) i))", ("order-%d-%d" % (round_number, size), size, size))
            seconds = time.perf_counter() - started
            peak.stop = True
            peak.join()
            results.append(("order_big", size, seconds, peak.peak - idle, rss_anon(pid) - idle))
        for size in sizes["realloc_big"]:
            cur.execute("SELECT allocation.add_batch(%s, %s, %s, NULL), allocation.add_batch(%s, %s, 1000000000, '2100-01-01')",
                        ("ra-%d-%d" % (round_number, size), "R-%d-%d" % (round_number, size), size,
                         "rz-%d-%d" % (round_number, size), "R-%d-%d" % (round_number, size)))
            # committing every 500 lines: thousands of changes to one row in
            # one transaction would make each later read walk all its versions
            cur.execute("DO $$ BEGIN FOR i IN 1..%s LOOP PERFORM allocation.allocate('l' || i, '%s', 1); "
                        "IF i %% 500 = 0 THEN COMMIT; END IF; END LOOP; END $$" % (size, "R-%d-%d" % (round_number, size)))
            started = time.perf_counter()
            cur.execute("SELECT allocation.change_batch_quantity(%s, 0)", ("ra-%d-%d" % (round_number, size),))
            results.append(("realloc_big", size, time.perf_counter() - started, 0, 0))
        for size in sizes["one_txn"]:
            sku = "T-%d-%d" % (round_number, size)
            cur.execute("SELECT allocation.add_batch(%s, %s, 1000000000, NULL)", ("t-" + sku, sku))
            started = time.perf_counter()
            cur.execute("BEGIN")
            cur.execute("SELECT count(allocation.allocate('t' || i, %s, 1)) FROM generate_series(1, %s) i", (sku, size))
            cur.execute("COMMIT")
            results.append(("one_txn", size, time.perf_counter() - started, 0, 0))
    conn.close()
    return results


def plans_after_statistics():
    """200 three-line orders, each its own transaction, in a backend whose
    plans were made while statistics said no batch had stock ("bad") and in
    one whose plans were made with the stock in place ("good")."""
    orders = ("DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM count(*) FROM allocation.allocate_order('o' || i, "
              "ARRAY['sku-' || (4 + i % 500), 'sku-' || (600 + i % 500), 'sku-' || (1200 + i % 500)], "
              "ARRAY[1, 1, 1]); COMMIT; END LOOP; END $$")
    stock = "SELECT count(allocation.add_batch('s' || i, 'sku-' || (i % 2000), 1000000, NULL)) FROM generate_series(1, 20000) i"
    seconds = {}
    for variant in ("bad", "good"):
        psql("DROP DATABASE IF EXISTS bench_plans", db="postgres")
        psql("CREATE DATABASE bench_plans", db="postgres")
        psql("CREATE EXTENSION allocation; SELECT count(allocation.add_batch('x' || i, 'sku-' || (i % 2000), 0, NULL)) "
             "FROM generate_series(1, 20000) i", db="bench_plans")
        if variant == "good":
            psql(stock, db="bench_plans")
        psql("ANALYZE", db="bench_plans")
        conn = psycopg2.connect(dbname="bench_plans")
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM allocation.allocate_order('first', ARRAY['sku-1', 'sku-2', 'sku-3'], ARRAY[1, 1, 1])")
        if variant == "bad":
            cur.execute(stock)
        timings = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            cur.execute(orders)
            timings.append(time.perf_counter() - started)
            cur.execute("DELETE FROM allocation.order_lines WHERE orderid LIKE 'o%'; "
                        "UPDATE allocation.batches SET allocated_quantity = 0")
        seconds[variant] = min(timings)
        conn.close()
    psql("DROP DATABASE bench_plans", db="postgres")
    return seconds


def best(results, kind, size):
    return min(r for r in results if r[0] == kind and r[1] == size)


# -- report ---------------------------------------------------------------------

def main():
    started = datetime.datetime.now(datetime.timezone.utc)
    version = psql("SHOW server_version")
    cpus = os.cpu_count()
    script_dir = tempfile.mkdtemp(prefix="allocation-bench-")
    for name, text in SCRIPTS.items():
        with open(os.path.join(script_dir, name + ".sql"), "w") as script:
            script.write(text)

    rows = throughput(script_dir)
    streamed = stream(script_dir, rows) if STREAM_PORT and REDIS_PORT else None
    if REDIS_PORT:
        commands(rows)
    calls = single_calls()
    plans = plans_after_statistics()

    stamp = started.strftime("%Y-%m-%dT%H%M")
    os.makedirs(RESULTS, exist_ok=True)
    csv_path = os.path.join(RESULTS, "bench-%s.csv" % stamp)
    with open(csv_path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["date", "cpus", "postgresql", "kind", "round", "workload_or_call", "clients_or_size",
                         "tps_or_seconds", "peak_kb_above_idle", "kb_above_idle_after"])
        for round_number, workload, clients, tps in rows:
            writer.writerow([started.isoformat(timespec="seconds"), cpus, version, "pgbench", round_number,
                             workload, clients, "%.1f" % tps, "", ""])
        for kind, size, seconds, peak, after in calls:
            writer.writerow([started.isoformat(timespec="seconds"), cpus, version, "call", "", kind, size,
                             "%.4f" % seconds, peak, after])
    report(rows, streamed, calls, plans, version, cpus, csv_path)
    charts(rows, calls, stamp)


def report(rows, streamed, calls, plans, version, cpus, csv_path):
    print()
    print("allocation benchmark: PostgreSQL %s, %d CPUs, %d round(s) of %d s per point after %d s of warm-up, "
          "medians, default settings" % (version, cpus, ROUNDS, SECONDS, WARMUP))
    print()
    print("%-14s %7s %10s %8s %16s" % ("workload", "clients", "tps", "x tpcb", "x same at 1"))
    for workload in ("tpcb-like", "spread", "hot", "hot_row"):
        for c in CLIENTS:
            print("%-14s %7d %10.1f %8.2f %16.2f" % (workload, c, median_tps(rows, workload, c),
                                                     median_ratio(rows, workload, c, "tpcb-like"),
                                                     median_ratio(rows, workload, c, workload, 1)))
    for workload, c in (("hot_pgbouncer", 64), ("spread_noslot", 4), ("spread_stream", 4), ("one_row", 4),
                        ("checkout", 4), ("spread_twice", 4), ("commands_stream", 1)):
        if tps_of(rows, workload, c):
            print("%-14s %7d %10.1f %8.2f" % (workload, c, median_tps(rows, workload, c),
                                              median_ratio(rows, workload, c, "tpcb-like")))
    for workload in ("partly_3", "partly_20000", "fresh", "expired"):
        tps = median_tps(rows, workload, 1)
        print("%-14s %7d %10.1f  (%.3f ms per allocate)" % (workload, 1, tps, 1000 / tps))

    print()
    print("single calls (best of %d):" % ROUNDS)
    for kind in ("order_big", "realloc_big", "one_txn"):
        for size in sorted({r[1] for r in calls if r[0] == kind}):
            _, _, seconds, peak, after = best(calls, kind, size)
            memory = "  peak %+d kB, after %+d kB private memory" % (peak, after) if kind == "order_big" else ""
            print("  %-12s %7d  %8.3f s  %7.1f us per line%s" % (kind, size, seconds, seconds / size * 1e6, memory))

    def per_line(kind, size):
        return best(calls, kind, size)[2] / size

    def sizes(kind):
        return sorted({r[1] for r in calls if r[0] == kind})

    checks = [
        ("spread, 4 clients >= 2.0 x tpcb-like", median_ratio(rows, "spread", 4, "tpcb-like"), ">=", 2.0),
        ("  spread, 4 clients, x a durable one-row insert (ceiling: 1)",
         median_ratio(rows, "spread", 4, "one_row"), "info", 0),
        ("  2.0 x tpcb-like is this x a durable one-row insert",
         2 * median_ratio(rows, "tpcb-like", 4, "one_row"), "info", 0),
        ("hot, 4 clients >= 0.9 x hot at 1", median_ratio(rows, "hot", 4, "hot", 1), ">=", 0.9),
        ("hot, 16 clients >= 0.9 x hot at 1", median_ratio(rows, "hot", 16, "hot", 1), ">=", 0.9),
        ("hot, 64 clients >= 0.9 x hot at 1", median_ratio(rows, "hot", 64, "hot", 1), ">=", 0.9),
        ("PostgreSQL alone, one row updated by 16 clients, x at 1", median_ratio(rows, "hot_row", 16, "hot_row", 1),
         "info", 0),
        ("PostgreSQL alone, one row updated by 64 clients, x at 1", median_ratio(rows, "hot_row", 64, "hot_row", 1),
         "info", 0),
        ("checkout (hold + confirm), 4 clients >= 0.6 x spread",
         median_ratio(rows, "checkout", 4, "spread"), ">=", 0.6),
        ("  two allocates in two transactions, 4 clients, x spread",
         median_ratio(rows, "spread_twice", 4, "spread"), "info", 0),
        ("  checkout x two allocates in two transactions (ceiling: ~1)",
         median_ratio(rows, "checkout", 4, "spread_twice"), "info", 0),
        ("allocate beside 10,000 expired holds <= 1.2 x without",
         1 / median_ratio(rows, "expired", 1, "fresh"), "<=", 1.2),
        ("partly used: 20,000 batches vs 3 (time per allocate)",
         1 / median_ratio(rows, "partly_20000", 1, "partly_3"), "info", 0),
    ]
    if tps_of(rows, "hot_pgbouncer", 64):
        checks.append(("hot, 64 clients via PgBouncer (4 servers) >= 0.9 x hot at 1",
                       median_ratio(rows, "hot_pgbouncer", 64, "hot", 1), ">=", 0.9))
    if streamed:
        checks += [
            ("allocate (spread, 4) with the relay draining into Redis >= 0.85 x without a slot",
             median_ratio(rows, "spread_stream", 4, "spread_noslot"), ">=", 0.85),
            ("relay draining a backlog into Redis: events/s >= 5,000", streamed["drain_events_per_s"], ">=", 5000),
            ("relay draining a backlog: CPU s per 1,000 events <= 0.02", streamed["drain_cpu_per_1000"], "<=", 0.02),
            ("relay live, at %.0f events/s: CPU s per 1,000 events <= 0.02" % streamed["relay_events_per_s"],
             streamed["relay_cpu_per_1000"], "<=", 0.02),
            ("relay p99 commit-to-stream at %d tps <= 100 ms" % streamed["rate"], streamed["p99_ms"], "<=", 100),
        ]
    if tps_of(rows, "commands_stream", 1):
        checks.append(("allocate commands via allocation:commands >= 1.0 x direct calls from 1 client",
                       median_ratio(rows, "commands_stream", 1, "spread", 1), ">=", 1.0))
    small, large = sizes("order_big")[0], sizes("order_big")[-1]
    checks.append(("order_big: time per line %d vs %d <= 1.2 x" % (large, small),
                   per_line("order_big", large) / per_line("order_big", small), "<=", 1.2))
    checks.append(("order_big %d lines: peak private memory <= 64 MB above idle" % large,
                   best(calls, "order_big", large)[3] / 1024, "<=", 64))
    small, large = sizes("realloc_big")[0], sizes("realloc_big")[-1]
    checks.append(("realloc_big: time per line %d vs %d <= 1.2 x" % (large, small),
                   per_line("realloc_big", large) / per_line("realloc_big", small), "<=", 1.2))
    small, large = sizes("one_txn")[0], sizes("one_txn")[-1]
    checks.append(("one_txn: %d calls <= 12 x the time of %d" % (large, small),
                   best(calls, "one_txn", large)[2] / best(calls, "one_txn", small)[2], "<=", 12))
    checks.append(("3-line orders, plans made under no-stock statistics <= 1.5 x",
                   plans["bad"] / plans["good"], "<=", 1.5))
    print("  200 orders of 3 lines, plans made under no-stock statistics: %.3f s; with the stock in place: %.3f s"
          % (plans["bad"], plans["good"]))
    print()
    print("targets:")
    for label, value, op, goal in checks:
        if op == "info":
            print("  %-62s %7.2f" % (label, value))
        else:
            print("  %-62s %7.2f  %s" % (label, value, verdict(value >= goal if op == ">=" else value <= goal)))
    if streamed:
        print()
        print("event stream into Redis: relay %.0f events/s, %.4f CPU s per 1,000 events, %d events behind at the "
              "end of a run (medians); p99 commit-to-stream %.1f ms over %d events at %d tps; WAL per allocation "
              "%.0f bytes (replica) vs %.0f (logical), %+.1f %%"
              % (streamed["relay_events_per_s"], streamed["relay_cpu_per_1000"], streamed["lag_events"],
                 streamed["p99_ms"], streamed["events_timed"], streamed["rate"],
                 streamed["wal_replica"], streamed["wal_logical"],
                 100 * (streamed["wal_logical"] / streamed["wal_replica"] - 1)))
    print()
    print("raw numbers: %s" % csv_path)


def charts(rows, calls, stamp):
    """TPS against clients; time per line against the size of a call."""
    data = os.path.join(RESULTS, "bench-%s" % stamp)
    with open(data + "-clients.dat", "w") as out:
        out.write("# clients tpcb-like spread hot (medians)\n")
        for c in CLIENTS:
            out.write("%d %s\n" % (c, " ".join("%.1f" % median_tps(rows, w, c) for w in ("tpcb-like", "spread", "hot"))))
    with open(data + "-bouncer.dat", "w") as out:
        if tps_of(rows, "hot_pgbouncer", 64):
            out.write("64 %.1f\n" % median_tps(rows, "hot_pgbouncer", 64))
        else:
            out.write("64 NaN\n")
    with open(data + "-lines.dat", "w") as out:
        out.write("# size microseconds_per_line kind\n")
        for kind in ("order_big", "realloc_big", "one_txn"):
            for size in sorted({r[1] for r in calls if r[0] == kind}):
                out.write("%d %.2f\n" % (size, best(calls, kind, size)[2] / size * 1e6))
            out.write("\n\n")
    script = """
set terminal pngcairo size 800,500 noenhanced
set output '{data}-clients.png'
set title 'TPS against clients (default settings, median of {rounds} rounds)'
set xlabel 'clients'; set ylabel 'transactions per second'; set key below
set logscale x 2; set xrange [0.8:80]; set xtics ("1" 1, "4" 4, "16" 16, "64" 64); set yrange [0:*]; set grid
plot '{data}-clients.dat' using 1:2 with linespoints title 'pgbench tpcb-like', \\
     '' using 1:3 with linespoints title 'allocate, spread over 1,000 skus', \\
     '' using 1:4 with linespoints title 'allocate, one hot sku', \\
     '{data}-bouncer.dat' using 1:2 with points pointtype 7 pointsize 1.5 title 'one hot sku, 64 clients via PgBouncer (4 server connections)'
set output '{data}-lines.png'
set title 'Time per line against the size of one call (best of {rounds})'
set xlabel 'lines in the call'; set ylabel 'microseconds per line'
set logscale x 10; set xrange [100:200000]; set xtics auto; set key below; set yrange [0:*]
plot '{data}-lines.dat' index 0 using 1:2 with linespoints title 'allocate_order of N lines', \\
     '' index 1 using 1:2 with linespoints title 'change_batch_quantity moving N lines', \\
     '' index 2 using 1:2 with linespoints title 'N allocate calls on one sku in one transaction'
""".format(data=data, rounds=ROUNDS)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print("charts: %s-clients.png, %s-lines.png" % (data, data))


if __name__ == "__main__":
    main()
