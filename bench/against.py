"""bench/against.py: this tree's allocation against an earlier commit's, in
one run (bench/against sets it up).

Release notes compare a figure with the one a release had, but this
machine's commits cost two to four times more on some days than on others:
a figure from another day says little.  Here both libraries serve one
throwaway cluster, each its own database (THEN_DB at THEN's extension
version, NOW_DB at this tree's) loaded alike, and each round runs every
workload with one library, then with the other (the order alternating by
round): before each run the library under test is installed, and every
pgbench run starts new backends, which load the library installed then.
Ratios are taken within a round, medians over rounds.  Autovacuum is off
(bench/against): each round starts with a VACUUM (ANALYZE) of both
databases, so that no worker started by one side runs while the other is
measured.

Every figure above waits for WAL flushes, which cost this machine more than
an allocation's work and vary more than the differences sought.  So each
side also runs spread, checkout and hot at one client with
synchronous_commit = off (NO_FLUSH): the work of a call alone, CPU-bound,
and the steadiest "did it get slower?" this machine can answer.
"""
import os
import shutil
import statistics
import tempfile

from bench import ROUNDS, SCRIPTS, SECONDS, pgbench, psql
from steady import WARMUP

LIBRARIES = {"then": os.environ["THEN_LIBRARY"], "now": os.environ["NOW_LIBRARY"]}
INSTALLED = os.environ["INSTALLED_LIBRARY"]
DATABASES = {"then": os.environ["THEN_DB"], "now": os.environ["NOW_DB"]}
LABELS = {"then": os.environ["THEN_LABEL"], "now": os.environ["NOW_LABEL"]}
# the workloads both sides run: tpcb-like is the machine's baseline, in
# the "now" database (it does not call the extension)
POINTS = [("spread", 4), ("checkout", 4), ("hot", 1), ("hot", 4), ("hot", 16), ("hot", 64)]
# the same calls without waiting for a flush, at one client
NO_FLUSH = {"synchronous_commit": "off"}
NO_FLUSH_POINTS = [("spread", 1), ("checkout", 1), ("hot", 1)]


def install(side):
    """Install side's library where the server loads it from (a new file
    renamed over the old one: a backend that still maps the old keeps it)."""
    staged = INSTALLED + ".staged"
    shutil.copyfile(LIBRARIES[side], staged)
    os.chmod(staged, 0o755)
    os.rename(staged, INSTALLED)


def main():
    script_dir = tempfile.mkdtemp(prefix="allocation-against-")
    for name, _ in POINTS:
        with open(os.path.join(script_dir, name + ".sql"), "w") as script:
            script.write(SCRIPTS[name])
    tps = {}			# (round, side, workload, clients) -> tps
    for round_number in range(1, ROUNDS + 1):
        for db in DATABASES.values():
            psql("VACUUM (ANALYZE)", db=db)
        install("now")
        tps[round_number, "base", "tpcb-like", 4] = pgbench(script_dir, "tpcb-like", 4, db=DATABASES["now"])
        print("  round %d  %-5s %-10s %2d clients %8.1f tps" % (round_number, "", "tpcb-like", 4,
                                                               tps[round_number, "base", "tpcb-like", 4]),
              flush=True)
        sides = ("then", "now") if round_number % 2 else ("now", "then")
        for side in sides:
            install(side)
            for workload, clients in POINTS:
                value = pgbench(script_dir, workload, clients, db=DATABASES[side])
                tps[round_number, side, workload, clients] = value
                print("  round %d  %-5s %-10s %2d clients %8.1f tps" % (round_number, side, workload, clients,
                                                                      value), flush=True)
            for workload, clients in NO_FLUSH_POINTS:
                value = pgbench(script_dir, workload, clients, db=DATABASES[side], settings=NO_FLUSH)
                tps[round_number, side, workload + " no flush", clients] = value
                print("  round %d  %-5s %-10s %2d clients %8.1f tps, synchronous_commit = off"
                      % (round_number, side, workload, clients, value), flush=True)
    install("now")
    shutil.rmtree(script_dir)
    report(tps)


def report(tps):
    rounds = range(1, ROUNDS + 1)

    def ratios(side, point, base_side, baseline):
        return statistics.median([tps[(r, side) + point] / tps[(r, base_side) + baseline] for r in rounds])

    print()
    print("%s (then) against %s (now): %d rounds of %d s per point after %d s of warm-up, medians"
          % (LABELS["then"], LABELS["now"], ROUNDS, SECONDS, WARMUP))
    print()
    print("%-38s %8s %8s %12s" % ("", "then", "now", "now / then"))
    lines = [("spread, 4 clients, x tpcb-like", ("spread", 4), "base", ("tpcb-like", 4)),
             ("checkout, 4 clients, x spread", ("checkout", 4), None, ("spread", 4)),
             ("hot, 4 clients, x hot at 1", ("hot", 4), None, ("hot", 1)),
             ("hot, 16 clients, x hot at 1", ("hot", 16), None, ("hot", 1)),
             ("hot, 64 clients, x hot at 1", ("hot", 64), None, ("hot", 1))]
    for name, point, base_side, baseline in lines:
        then = ratios("then", point, base_side or "then", baseline)
        now = ratios("now", point, base_side or "now", baseline)
        print("%-38s %8.2f %8.2f %12.2f" % (name, then, now, now / then))
    print()
    print("%-38s %8s %8s %12s" % ("tps (medians)", "then", "now", "now / then"))
    for workload, clients in POINTS + [(name + " no flush", clients) for name, clients in NO_FLUSH_POINTS]:
        then = statistics.median([tps[r, "then", workload, clients] for r in rounds])
        now = statistics.median([tps[r, "now", workload, clients] for r in rounds])
        wins = sum(tps[r, "now", workload, clients] > tps[r, "then", workload, clients] for r in rounds)
        print("%-38s %8.1f %8.1f %12.2f  (now ahead in %d of %d rounds)"
              % ("%s, %d clients" % (workload, clients), then, now, statistics.median(
                  [tps[r, "now", workload, clients] / tps[r, "then", workload, clients] for r in rounds]),
                 wins, ROUNDS))
    print("(no flush: synchronous_commit = off, the work of the calls alone)")


if __name__ == "__main__":
    main()
