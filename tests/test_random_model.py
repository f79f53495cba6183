"""A seeded random test of the whole API against a model kept in Python.

Thousands of random calls, valid and invalid, run in random transactions that
commit or roll back: allocations, orders, batch changes, and holds that are
confirmed, released or left to expire while the clock moves on (the model
has a clock in hours; the database's is moved by allocation.clock_offset,
and the real time that passes during a run stays far below an hour).
The model predicts every answer, every SQLSTATE and every event; after each
commit the database must equal the model exactly.
Set ALLOCATION_SEED to replay a run; ALLOCATION_CALLS sets its length.
"""
import copy
import datetime
import os
import random

import psycopg2
import pytest

SKUS = ["LAMP", "DESK", "RUG"]
RECLAIM_PER_CALL = 16
MAX_TTL_HOURS = 24
REFS = ["b%d" % i for i in range(1, 41)]
ETAS = [None, None, datetime.date(2030, 1, 1), datetime.date(2030, 1, 1), datetime.date(2030, 2, 1)]


class Failure(Exception):
    """The model's prediction that a call fails with this SQLSTATE."""

    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class Model:
    """The shop as the contract describes it."""

    def __init__(self):
        self.versions = {}      # sku -> version_number
        self.batches = {}       # ref -> dict(sku, eta, purchased, allocated)
        self.lines = {}         # (orderid, sku) -> dict(qty, batch, seq)
        self.holds = {}         # (holdid, sku) -> dict(qty, batch, expires, born, seq, orderid)
        self.events = []        # (event, payload) not yet compared
        self.seq = 0
        self.clock = 0          # hours since the start

    # argument checks, in argument order as the functions make them
    @staticmethod
    def identifier(value):
        if value is None:
            raise Failure("22004")
        if value.strip(" \t\n\r\f") == "" or len(value) > 255:
            raise Failure("22023")

    @staticmethod
    def quantity(value, minimum):
        if value is None:
            raise Failure("22004")
        if value < minimum:
            raise Failure("22023")

    @staticmethod
    def ttl(value):
        if value is None:
            raise Failure("22004")
        if not 0 < value <= MAX_TTL_HOURS:
            raise Failure("22023")

    def live(self, hold):
        return hold["orderid"] is None and hold["expires"] > self.clock

    def held(self, ref):
        return sum(h["qty"] for h in self.holds.values() if h["batch"] == ref and self.live(h))

    def reclaim(self, sku):
        """The calls on a sku reclaim its expired holds, a bounded share."""
        # The database orders by expires_at, then id: "born" says when that
        # exact expiry was taken from the real clock (a moved hold keeps it,
        # a line joining a hold shares it).
        expired = sorted((k for k, h in self.holds.items() if k[1] == sku and h["expires"] <= self.clock),
                         key=lambda k: (self.holds[k]["expires"], self.holds[k]["born"], self.holds[k]["seq"]))
        for key in expired[:RECLAIM_PER_CALL]:
            hold = self.holds.pop(key)
            if hold["orderid"] is None:
                self.released(key, hold["qty"], "expired")

    def holds_quantity(self, ref):
        """What batches.holds_quantity counts: holds not confirmed nor reclaimed."""
        return sum(h["qty"] for h in self.holds.values() if h["batch"] == ref and h["orderid"] is None)

    def settle(self, ref):
        """A batch short beside all its holds reclaims expired ones, earliest first."""
        batch = self.batches[ref]
        room = batch["purchased"] - batch["allocated"] - self.holds_quantity(ref)
        if room >= 0:
            return
        expired = sorted((k for k, h in self.holds.items()
                          if h["batch"] == ref and h["orderid"] is None and h["expires"] <= self.clock),
                         key=lambda k: (self.holds[k]["expires"], self.holds[k]["born"], self.holds[k]["seq"]))
        for key in expired[:-room]:
            self.released(key, self.holds.pop(key)["qty"], "expired")

    def released(self, key, qty, reason):
        self.events.append(("Released", {"holdid": key[0], "sku": key[1], "qty": qty, "reason": reason}))

    def best_batch(self, sku, qty):
        fits = [ref for ref, b in self.batches.items()
                if b["sku"] == sku and b["purchased"] - b["allocated"] - self.held(ref) >= qty]
        fits.sort(key=lambda ref: (self.batches[ref]["eta"] is not None,
                                   self.batches[ref]["eta"] or datetime.date.min, ref.encode()))
        return fits[0] if fits else None

    def place(self, orderid, sku, qty):
        ref = self.best_batch(sku, qty)
        if ref is None:
            self.events.append(("OutOfStock", {"sku": sku}))
            return None
        self.batches[ref]["allocated"] += qty
        self.settle(ref)
        self.insert_line(orderid, sku, qty, ref)
        return ref

    def insert_line(self, orderid, sku, qty, ref):
        self.seq += 1
        self.lines[(orderid, sku)] = {"qty": qty, "batch": ref, "seq": self.seq}
        self.events.append(("Allocated", {"orderid": orderid, "sku": sku, "qty": qty, "batchref": ref}))

    def put_hold(self, holdid, sku, qty, expires, born):
        ref = self.best_batch(sku, qty)
        if ref is None:
            return None
        self.insert_hold(holdid, sku, qty, ref, expires, born)
        return ref

    def insert_hold(self, holdid, sku, qty, ref, expires, born):
        self.seq += 1
        self.holds[(holdid, sku)] = {"qty": qty, "batch": ref, "expires": expires, "born": born or self.seq,
                                     "seq": self.seq, "orderid": None}
        self.settle(ref)
        self.events.append(("Held", {"holdid": holdid, "sku": sku, "qty": qty, "batchref": ref}))

    def add_batch(self, ref, sku, qty, eta):
        self.identifier(ref)
        self.identifier(sku)
        self.quantity(qty, 0)
        if ref in self.batches:
            raise Failure("23505")
        self.versions.setdefault(sku, 0)
        self.batches[ref] = {"sku": sku, "eta": eta, "purchased": qty, "allocated": 0}

    def allocate(self, orderid, sku, qty):
        self.identifier(orderid)
        self.identifier(sku)
        self.quantity(qty, 1)
        if sku not in self.versions:
            raise Failure("AL001")
        held = self.lines.get((orderid, sku))
        if held:
            if held["qty"] != qty:
                raise Failure("AL003")
            return held["batch"]
        ref = self.place(orderid, sku, qty)
        if ref is not None:
            self.versions[sku] += 1
        return ref

    def deallocate(self, orderid, sku):
        self.identifier(orderid)
        self.identifier(sku)
        if sku not in self.versions:
            raise Failure("AL001")
        line = self.lines.pop((orderid, sku), None)
        if line is None:
            return None
        self.batches[line["batch"]]["allocated"] -= line["qty"]
        self.events.append(("Deallocated", {"orderid": orderid, "sku": sku, "qty": line["qty"]}))
        self.versions[sku] += 1
        return line["batch"]

    def change_batch_quantity(self, ref, qty):
        self.identifier(ref)
        self.quantity(qty, 0)
        if ref not in self.batches:
            raise Failure("AL002")
        batch = self.batches[ref]
        sku = batch["sku"]
        self.reclaim(sku)
        excess = batch["allocated"] + self.held(ref) - qty
        on_batch = [("line", k, l["seq"]) for k, l in self.lines.items() if l["batch"] == ref]
        on_batch += [("hold", k, h["seq"]) for k, h in self.holds.items() if h["batch"] == ref and self.live(h)]
        on_batch.sort(key=lambda item: item[2], reverse=True)
        taken = []
        for kind, key, _ in on_batch:
            if excess <= 0:
                break
            if kind == "line":
                line = self.lines.pop(key)
                batch["allocated"] -= line["qty"]
                self.events.append(("Deallocated", {"orderid": key[0], "sku": sku, "qty": line["qty"]}))
                excess -= line["qty"]
                taken.append((kind, key, line["qty"], None))
            else:
                hold = self.holds.pop(key)
                excess -= hold["qty"]
                taken.append((kind, key, hold["qty"], (hold["expires"], hold["born"])))
        batch["purchased"] = qty
        self.settle(ref)
        # placed again in memory: rooms read once, lines counted at the end
        rooms = [[r, b["purchased"] - b["allocated"] - self.held(r), 0]
                 for r, b in sorted(self.batches.items(),
                                    key=lambda kv: (kv[1]["eta"] is not None, kv[1]["eta"] or datetime.date.min,
                                                    kv[0].encode()))
                 if b["sku"] == sku and b["allocated"] < b["purchased"]]
        for kind, key, line_qty, expires in taken:
            fit = next((room for room in rooms if room[1] >= line_qty), None)
            if fit is None:
                if kind == "line":
                    self.events.append(("OutOfStock", {"sku": sku}))
                else:
                    self.released(key, line_qty, "out_of_stock")
                continue
            fit[1] -= line_qty
            if kind == "line":
                fit[2] += line_qty
                self.insert_line(key[0], sku, line_qty, fit[0])
            else:
                self.insert_hold(key[0], sku, line_qty, fit[0], *expires)
        for room_ref, _, added in rooms:
            if added:
                self.batches[room_ref]["allocated"] += added
                self.settle(room_ref)
        self.versions[sku] += 1

    def hold(self, holdid, sku, qty, ttl):
        self.identifier(holdid)
        self.identifier(sku)
        self.quantity(qty, 1)
        self.ttl(ttl)
        if sku not in self.versions:
            raise Failure("AL001")
        self.reclaim(sku)
        return self.hold_line(holdid, sku, qty, ttl)

    def hold_line(self, holdid, sku, qty, ttl, find_only=False):
        """(found, batch): an existing unexpired line, or a new one placed."""
        existing = self.holds.get((holdid, sku))
        if existing and existing["expires"] <= self.clock:
            del self.holds[(holdid, sku)]
            if existing["orderid"] is None:
                self.released((holdid, sku), existing["qty"], "expired")
            existing = None
        if existing:
            if existing["qty"] != qty:
                raise Failure("AL003")
            return existing["batch"]
        if find_only:
            return None
        others = [h for (hid, _), h in self.holds.items() if hid == holdid and h["expires"] > self.clock]
        if self.confirmed(holdid):
            raise Failure("AL004")
        expires, born = (others[0]["expires"], others[0]["born"]) if others else (self.clock + ttl, None)
        ref = self.put_hold(holdid, sku, qty, expires, born)
        if ref is None:
            self.events.append(("OutOfStock", {"sku": sku}))
        else:
            self.versions[sku] += 1
        return ref

    def confirmed(self, holdid):
        """Whether the hold is live and was confirmed: no line may be added."""
        live = [h for (hid, _), h in self.holds.items() if hid == holdid and h["expires"] > self.clock]
        return bool(live) and live[0]["orderid"] is not None

    def hold_lines(self, holdid):
        return sorted((k for k in self.holds if k[0] == holdid), key=lambda k: k[1].encode())

    def confirm_hold(self, holdid, orderid):
        self.identifier(holdid)
        self.identifier(orderid)
        keys = self.hold_lines(holdid)
        if not keys:
            raise Failure("AL004")
        holds = [self.holds[k] for k in keys]
        if any(h["expires"] <= self.clock for h in holds):
            raise Failure("AL004")
        if any(h["orderid"] is not None and h["orderid"] != orderid for h in holds):
            raise Failure("AL004")
        if all(h["orderid"] is not None for h in holds):
            # confirmed before: what the order holds of the hold's skus now
            # (a line deallocated since left out, a moved one on its new batch)
            return [(sku, self.lines[(orderid, sku)]["batch"]) for (_, sku) in keys if (orderid, sku) in self.lines]
        if all(h["orderid"] is None for h in holds):
            for (_, sku), hold in zip(keys, holds):
                if (orderid, sku) in self.lines:
                    raise Failure("AL003")
                hold["orderid"] = orderid
                self.released((holdid, sku), hold["qty"], "confirmed")
                self.batches[hold["batch"]]["allocated"] += hold["qty"]
                self.seq += 1
                self.lines[(orderid, sku)] = {"qty": hold["qty"], "batch": hold["batch"], "seq": self.seq}
                self.events.append(("Allocated", {"orderid": orderid, "sku": sku, "qty": hold["qty"],
                                                  "batchref": hold["batch"]}))
                self.versions[sku] += 1
        return [(sku, hold["batch"]) for (_, sku), hold in zip(keys, holds)]

    def release_hold(self, holdid):
        self.identifier(holdid)
        released = 0
        for key in self.hold_lines(holdid):
            hold = self.holds[key]
            if hold["orderid"] is not None:
                continue
            del self.holds[key]
            if hold["expires"] <= self.clock:
                self.released(key, hold["qty"], "expired")
            else:
                self.released(key, hold["qty"], "released")
                self.versions[key[1]] += 1
                released += 1
        return released

    def order_lines(self, skus, qtys):
        """An order's (sku, qty) lines in lock order, checked as the database does."""
        if skus is None or qtys is None:
            raise Failure("22004")
        if len(skus) != len(qtys) or not skus or None in skus or None in qtys:
            raise Failure("22023")
        for sku, qty in zip(skus, qtys):
            self.identifier(sku)
            self.quantity(qty, 1)
        order = sorted(zip(skus, qtys), key=lambda line: line[0].encode())
        if len(set(skus)) != len(skus):
            raise Failure("22023")
        for sku, _ in order:
            if sku not in self.versions:
                raise Failure("AL001")
        return order

    def allocate_order(self, orderid, skus, qtys):
        self.identifier(orderid)
        order = self.order_lines(skus, qtys)
        new = []
        for sku, qty in order:
            held = self.lines.get((orderid, sku))
            if held and held["qty"] != qty:
                raise Failure("AL003")
            if not held:
                new.append((sku, qty))
        short = [sku for sku, qty in new if self.best_batch(sku, qty) is None]
        if short:
            for sku in short:
                self.events.append(("OutOfStock", {"sku": sku}))
            # nothing new is allocated; lines held before keep their batch
            return [(sku, self.lines[(orderid, sku)]["batch"] if (orderid, sku) in self.lines else None)
                    for sku, _ in order]
        for sku, qty in new:
            self.place(orderid, sku, qty)
            self.versions[sku] += 1
        return [(sku, self.lines[(orderid, sku)]["batch"]) for sku, _ in order]


    def hold_order(self, holdid, skus, qtys, ttl):
        self.identifier(holdid)
        self.ttl(ttl)
        order = self.order_lines(skus, qtys)
        for sku, _ in order:
            self.reclaim(sku)
        found = {}
        for sku, qty in order:                  # in lock order, each line found or refused
            found[sku] = self.hold_line(holdid, sku, qty, ttl, find_only=True)
            if found[sku] is None and self.confirmed(holdid):   # before any stock is looked at
                raise Failure("AL004")
        new = [(sku, qty) for sku, qty in order if found[sku] is None]
        short = [sku for sku, qty in new if self.best_batch(sku, qty) is None]
        if short:
            for sku in short:
                self.events.append(("OutOfStock", {"sku": sku}))
            return [(sku, found[sku]) for sku, _ in order]
        for sku, qty in new:
            found[sku] = self.hold_line(holdid, sku, qty, ttl)
        return [(sku, found[sku]) for sku, _ in order]


def random_identifier(rng, pool):
    roll = rng.random()
    if roll < 0.01:
        return None
    if roll < 0.02:
        return rng.choice(["", "  ", "x" * 256])
    if roll < 0.03:
        return "NO-SUCH-" + rng.choice(pool)
    return rng.choice(pool)


def random_qty(rng, minimum):
    roll = rng.random()
    if roll < 0.01:
        return None
    if roll < 0.02:
        return rng.choice([minimum - 1, -5, 0])
    if roll < 0.03:
        return 2147483647
    return rng.randint(minimum, 12)


def line_qty(rng, orderid, sku):
    """Mostly the same qty for the same line, so that AL003 stays rare."""
    if rng.random() < 0.05 or orderid is None or sku is None:
        return random_qty(rng, 1)
    return 1 + sum(map(ord, orderid + sku)) % 6


def random_ttl(rng):
    """Hours, valid most of the time."""
    roll = rng.random()
    if roll < 0.01:
        return None
    if roll < 0.03:
        return rng.choice([0, -1, MAX_TTL_HOURS + 1])
    return rng.choice([1, 2, 3, 5, 10, MAX_TTL_HOURS])


def random_call(rng):
    """A call as (name, args), valid most of the time."""
    orderids = ["o%d" % i for i in range(25)]
    holdids = ["h%d" % i for i in range(12)]
    roll = rng.random()
    if roll < 0.10:
        holdid, sku = random_identifier(rng, holdids), random_identifier(rng, SKUS)
        return "hold", (holdid, sku, line_qty(rng, holdid, sku), random_ttl(rng))
    if roll < 0.14:
        n = rng.randint(1, 3)
        holdid = random_identifier(rng, holdids)
        skus = rng.sample(SKUS, n)
        return "hold_order", (holdid, skus, [line_qty(rng, holdid, sku) for sku in skus], random_ttl(rng))
    if roll < 0.20:
        return "confirm_hold", (random_identifier(rng, holdids), random_identifier(rng, orderids))
    if roll < 0.23:
        return "release_hold", (random_identifier(rng, holdids),)
    roll = rng.random()
    if roll < 0.06:
        return "add_batch", (random_identifier(rng, REFS), random_identifier(rng, SKUS),
                             random_qty(rng, 0), rng.choice(ETAS))
    if roll < 0.55:
        orderid, sku = random_identifier(rng, orderids), random_identifier(rng, SKUS)
        return "allocate", (orderid, sku, line_qty(rng, orderid, sku))
    if roll < 0.72:
        return "deallocate", (random_identifier(rng, orderids), random_identifier(rng, SKUS))
    if roll < 0.85:
        return "change_batch_quantity", (random_identifier(rng, REFS), random_qty(rng, 0))
    n = rng.randint(1, 3)
    orderid = random_identifier(rng, orderids)
    skus = rng.sample(SKUS, n)
    qtys = [line_qty(rng, orderid, sku) for sku in skus]
    if rng.random() < 0.05:
        skus = skus + [skus[0]]
        qtys = qtys + [1]
    if rng.random() < 0.03:
        qtys = qtys[:-1]
    return "allocate_order", (orderid, skus, qtys)


def hours(ttl):
    return None if ttl is None else "%d hours" % ttl


def call_database(cur, name, args):
    if name == "allocate_order":
        cur.execute("SELECT sku, batchref FROM allocation.allocate_order(%s, %s::text[], %s::integer[])", args)
        return [tuple(row) for row in cur.fetchall()]
    if name == "hold_order":
        cur.execute("SELECT sku, batchref FROM allocation.hold_order(%s, %s::text[], %s::integer[], %s::interval)",
                    args[:3] + (hours(args[3]),))
        return [tuple(row) for row in cur.fetchall()]
    if name == "confirm_hold":
        cur.execute("SELECT sku, batchref FROM allocation.confirm_hold(%s, %s)", args)
        return [tuple(row) for row in cur.fetchall()]
    if name == "hold":
        cur.execute("SELECT allocation.hold(%s, %s, %s, %s::interval)", args[:3] + (hours(args[3]),))
        return cur.fetchone()[0]
    placeholders = ", ".join(["%s"] * len(args))
    cur.execute("SELECT allocation.%s(%s)" % (name, placeholders), args)
    if name in ("add_batch", "change_batch_quantity"):
        return None     # void
    return cur.fetchone()[0]


def database_state(cur):
    cur.execute("SELECT sku, version_number FROM allocation.products")
    versions = dict(cur.fetchall())
    cur.execute("SELECT reference, sku, eta, purchased_quantity, allocated_quantity FROM allocation.batches")
    batches = {r[0]: {"sku": r[1], "eta": r[2], "purchased": r[3], "allocated": r[4]} for r in cur.fetchall()}
    cur.execute("SELECT orderid, sku, qty, batch_reference FROM allocation.order_lines")
    lines = {(r[0], r[1]): {"qty": r[2], "batch": r[3]} for r in cur.fetchall()}
    cur.execute("SELECT holdid, sku, qty, batch_reference, orderid FROM allocation.holds")
    holds = {(r[0], r[1]): {"qty": r[2], "batch": r[3], "orderid": r[4]} for r in cur.fetchall()}
    return versions, batches, lines, holds


def model_state(model):
    lines = {k: {"qty": l["qty"], "batch": l["batch"]} for k, l in model.lines.items()}
    holds = {k: {"qty": h["qty"], "batch": h["batch"], "orderid": h["orderid"]} for k, h in model.holds.items()}
    return model.versions, model.batches, lines, holds


@pytest.fixture
def connection():
    conn = psycopg2.connect(os.environ.get("ALLOCATION_DSN", ""))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS allocation_random")
        cur.execute("CREATE DATABASE allocation_random")
    conn.close()
    conn = psycopg2.connect(os.environ.get("ALLOCATION_DSN", ""), dbname="allocation_random")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION allocation")
    yield conn
    conn.close()


def test_random_calls_match_the_model(connection):
    seed = int(os.environ.get("ALLOCATION_SEED", random.randrange(1 << 30)))
    total_calls = int(os.environ.get("ALLOCATION_CALLS", 3000))
    rng = random.Random(seed)
    print("seed %d, %d calls (ALLOCATION_SEED=%d replays this run)" % (seed, total_calls, seed))

    model = Model()
    cur = connection.cursor()
    last_event = 0
    calls = commits = rollbacks = errors = 0
    while calls < total_calls:
        if rng.random() < 0.08:        # time passes between transactions
            model.clock += rng.choice([1, 2, 3, 6, 11])
            cur.execute("SET allocation.clock_offset = '%d h'" % model.clock)
        saved = copy.deepcopy(model)
        cur.execute("BEGIN")
        failed = False
        for _ in range(rng.randint(1, 4)):
            name, args = random_call(rng)
            calls += 1
            context = "call %d of seed %d: %s%r" % (calls, seed, name, args)
            try:
                expected = getattr(model, name)(*args)
                expected_state = None
            except Failure as failure:
                expected, expected_state = None, failure.sqlstate
            try:
                got, got_state = call_database(cur, name, args), None
            except psycopg2.Error as error:
                got, got_state = None, error.pgcode
            assert got_state == expected_state, context
            assert got == expected, context
            if got_state is not None:
                errors += 1
                failed = True
                break
        if failed or rng.random() < 0.25:
            cur.execute("ROLLBACK")
            model = saved
            rollbacks += 1
            continue
        cur.execute("COMMIT")
        commits += 1
        assert database_state(cur) == model_state(model), "after commit %d of seed %d" % (commits, seed)
        cur.execute("SELECT id, event, payload FROM allocation.events WHERE id > %s ORDER BY id", (last_event,))
        rows = cur.fetchall()
        # a Held event's expires_at is the database's clock: not modelled
        got_events = [(r[1], {k: v for k, v in r[2].items() if not (r[1] == "Held" and k == "expires_at")})
                      for r in rows]
        assert got_events == model.events, "events after commit %d of seed %d" % (commits, seed)
        if rows:
            last_event = rows[-1][0]
        model.events = []
        cur.execute("SELECT count(*) FROM allocation.check()")
        assert cur.fetchone()[0] == 0, "check() after commit %d of seed %d" % (commits, seed)

    print("%d calls in %d committed and %d rolled-back transactions, %d expected errors"
          % (calls, commits, rollbacks, errors))
    assert commits > 50 and errors > 20
