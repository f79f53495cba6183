"""bench/router.py: allocation_router against direct calls.  Run by
bench/run after bench.py, with SHARD0_PORT, SHARD1_PORT and ROUTER_PORT
naming clusters bench/run started (every cluster on this one machine).

Workloads (pgbench, medians of rounds, ratios from the same round):
- allocate on a shard directly vs through the router, 1 and 4 clients;
- allocate_order of 3 lines through the router, skus drawn at random:
  all on one partition vs over two partitions (held on the other
  partition; allocated on the order's own partition with its lock and the
  decision, in one call; confirmed on the other; finished);
- spread allocate through the router with 1 partition (one shard) vs 2
  partitions (two shards).
"""
import os
import statistics
import subprocess
import tempfile

from steady import WARMUP, steady_tps

QUICK = os.environ.get("QUICK") == "1"
SECONDS = int(os.environ.get("BENCH_SECONDS", 1 if QUICK else 3))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 1 if QUICK else 3))
SHARDS = [os.environ["SHARD0_PORT"], os.environ["SHARD1_PORT"]]
ROUTER = os.environ["ROUTER_PORT"]
HOST = os.environ["PGHOST"]


def psql(port, sql):
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-p", port, "-d", "postgres",
                           "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def pgbench(port, script, clients):
    path = os.path.join(tempfile.mkdtemp(prefix="allocation-router-bench-"), "script.sql")
    with open(path, "w") as f:
        f.write(script)
    return steady_tps(["-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 4)), "-p", port,
                       "-f", path, "postgres"], SECONDS)


def configure(partitions):
    options = ", ".join("p%d 'host=%s port=%s dbname=postgres'" % (p, HOST, SHARDS[p % len(SHARDS)])
                        for p in range(partitions))
    psql(ROUTER, "DROP SERVER IF EXISTS allocation_cluster CASCADE; "
                 "CREATE SERVER allocation_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (%s); "
                 "CREATE USER MAPPING FOR PUBLIC SERVER allocation_cluster OPTIONS (user 'allocation_router')" % options)


def main():
    # 1,000 skus on one partition (one shard), and 1,000 over two: stock
    # that never runs out, each sku where its partition is
    configure(1)
    psql(ROUTER, "SELECT count(allocation.add_batch('solo-w-' || s, 'solo-' || s, 1000000000, NULL)) "
                 "FROM generate_series(1, 1000) AS s")
    configure(2)
    psql(ROUTER, "SELECT count(allocation.add_batch('w-' || s, 'sku-' || s, 1000000000, NULL)) "
                 "FROM generate_series(1, 1000) AS s")
    part = dict(line.split("|") for line in psql(ROUTER, "SELECT 'sku-' || s || '|' || allocation.router_partition('sku-' || s, 2) "
                                                         "FROM generate_series(1, 1000) AS s").splitlines())
    on_p0 = [s for s, p in part.items() if p == "0"][:300]
    on_p1 = [s for s, p in part.items() if p == "1"][:300]
    p0 = "(ARRAY['%s'])" % "','".join(on_p0)
    p1 = "(ARRAY['%s'])" % "','".join(on_p1)
    # three distinct skus at random: i, i + 100 and i + 200 of a partition's
    # 300, or two of partition 0 and one of partition 1
    one = "ARRAY[%s[:i + 1], %s[:i + 101], %s[:i + 201]]" % (p0, p0, p0)
    two = "ARRAY[%s[:i + 1], %s[:i + 101], %s[:i + 1]]" % (p0, p0, p1)
    allocate_p0 = ("\\set i random(0, 299)\n\\set o random(1, 9223372036854775806)\n"
                   "SELECT allocation.allocate('r-' || :o, %s[:i + 1], 1);\n" % p0)
    order = ("\\set i random(0, 99)\n\\set o random(1, 9223372036854775806)\n"
             "SELECT count(*) FROM allocation.allocate_order('ro-' || :o, %s, ARRAY[1, 1, 1]);\n")
    spread = ("\\set s random(1, 1000)\n\\set o random(1, 9223372036854775806)\n"
              "SELECT allocation.allocate('rs-' || :o, '%s' || :s, 1);\n")

    rows = []
    for round_number in range(ROUNDS):
        configure(2)
        for clients in (1, 4):
            rows.append(("direct", clients, pgbench(SHARDS[0], allocate_p0, clients)))
            rows.append(("router", clients, pgbench(ROUTER, allocate_p0, clients)))
        rows.append(("order3_one_partition", 4, pgbench(ROUTER, order % one, 4)))
        rows.append(("order3_two_partitions", 4, pgbench(ROUTER, order % two, 4)))
        rows.append(("spread_two_shards", 4, pgbench(ROUTER, spread % "sku-", 4)))
        configure(1)
        rows.append(("spread_one_shard", 4, pgbench(ROUTER, spread % "solo-", 4)))
        print("  round %d: %s" % (round_number + 1, ", ".join("%s@%d %.0f" % r for r in rows[-8:])), flush=True)
    configure(2)

    def median(name, clients):
        return statistics.median(t for n, c, t in rows if n == name and c == clients)

    print()
    print("allocation_router, %d round(s) of %d s after %d s of warm-up, medians (all clusters on this machine)"
          % (ROUNDS, SECONDS, WARMUP))
    for clients in (1, 4):
        print("  allocate, %d client(s): direct %.0f tps, through the router %.0f tps: %.2f x (%.3f ms added per call)"
              % (clients, median("direct", clients), median("router", clients),
                 median("router", clients) / median("direct", clients),
                 1000 * clients / median("router", clients) - 1000 * clients / median("direct", clients)))
    print("  allocate_order of 3 lines, 4 clients: one partition %.0f tps, two partitions %.0f tps: %.2f x"
          % (median("order3_one_partition", 4), median("order3_two_partitions", 4),
             median("order3_two_partitions", 4) / median("order3_one_partition", 4)))
    print("  spread allocate through the router, 4 clients: one shard %.0f tps, two shards %.0f tps: %.2f x"
          % (median("spread_one_shard", 4), median("spread_two_shards", 4),
             median("spread_two_shards", 4) / median("spread_one_shard", 4)))


if __name__ == "__main__":
    main()
