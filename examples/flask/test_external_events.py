"""The book's external-events test (its tests/e2e/test_external_events.py),
against the real thing: a redis-server, allocation-relay streaming the
outbox into it, allocation-consumer serving the change_batch_quantity
channel, and app.py over HTTP for the API part.  Other services talk to
allocation only through Redis, as in the book's last chapters.

Needs wal_level = logical and the slot that ALLOCATION_E2E_SLOT names
(the Makefile makes it with allocation.stream_setup); the programs are
found on PATH (pg_config --bindir)."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
import redis

from conftest import HttpClient, free_port, wait_for_port
from test_api import post_to_add_batch, random_batchref, random_orderid, random_sku


@pytest.fixture(scope="module")
def redis_port():
    """A redis-server of its own, keeping what it acknowledges."""
    folder = tempfile.mkdtemp(prefix="allocation-redis-")
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
                                "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                               stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, "redis-server")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder)


def e2e_dsn(user):
    """The e2e database's connection string, as another role."""
    return os.environ["ALLOCATION_E2E_DSN"].replace("user=flask_app", "user=" + user)


@pytest.fixture(scope="module")
def bus(redis_port):
    """allocation-relay and allocation-consumer, as the README's roles."""
    url = "redis://127.0.0.1:%d/0" % redis_port
    relay = subprocess.Popen(["allocation-relay", "--dsn", e2e_dsn("allocation_relay"),
                              "--slot", os.environ["ALLOCATION_E2E_SLOT"], "--redis", url])
    consumer = subprocess.Popen(["allocation-consumer", "--dsn", e2e_dsn("allocation_consumer"), "--redis", url],
                                stderr=subprocess.PIPE, text=True)
    try:
        for line in consumer.stderr:            # subscribed: a command published now is heard
            if "listening on change_batch_quantity" in line:
                break
        threading.Thread(target=consumer.stderr.read, daemon=True).start()     # keep the pipe flowing
        yield redis.Redis(host="127.0.0.1", port=redis_port)
    finally:
        for process in (relay, consumer):
            process.terminate()
            assert process.wait(timeout=10) == 0    # SIGTERM stops them cleanly


@pytest.fixture
def api_client(server):
    return HttpClient(server)


def test_change_batch_quantity_leading_to_reallocation(api_client, bus, random_suffix):
    # start with two batches and an order allocated to one of them
    orderid, sku = random_orderid(random_suffix), random_sku(random_suffix)
    earlier_batch, later_batch = random_batchref(random_suffix, "old"), random_batchref(random_suffix, "newer")
    post_to_add_batch(api_client, earlier_batch, sku, 10, "2011-01-01")
    post_to_add_batch(api_client, later_batch, sku, 10, "2011-01-02")
    response = api_client.post("/allocate", json={"orderid": orderid, "sku": sku, "qty": 10})
    assert response.status_code == 202
    response = api_client.get("/allocations/%s" % orderid)
    assert response.get_json()[0]["batchref"] == earlier_batch

    subscription = bus.pubsub()
    subscription.subscribe("line_allocated")
    subscription.get_message(timeout=1)         # the subscription's confirmation

    # change quantity on allocated batch so it's less than our order
    bus.publish("change_batch_quantity", json.dumps({"batchref": earlier_batch, "qty": 5}))

    # wait until we see a message saying the order has been reallocated (as
    # the book's Retrying(stop_after_delay(3)) does: the first allocation's
    # message may come too, the relay being asynchronous)
    messages, deadline = [], time.monotonic() + 3
    while time.monotonic() < deadline and not (messages and json.loads(messages[-1]["data"])["batchref"] == later_batch):
        message = subscription.get_message(timeout=max(0.01, deadline - time.monotonic()))
        if message and message["type"] == "message":
            messages.append(message)
    assert messages, "no line_allocated within 3 seconds"
    data = json.loads(messages[-1]["data"])
    assert data == {"orderid": orderid, "sku": sku, "qty": 10, "batchref": later_batch}
    assert list(data) == ["orderid", "sku", "qty", "batchref"]     # the book's message, in its order
    response = api_client.get("/allocations/%s" % orderid)
    assert response.get_json() == [{"sku": sku, "batchref": later_batch}]


def test_every_event_is_in_the_stream_once_in_commit_order(api_client, bus, random_suffix):
    sku, ref = random_sku(random_suffix, "stream"), random_batchref(random_suffix, "stream")
    post_to_add_batch(api_client, ref, sku, 2, None)
    orderids = [random_orderid(random_suffix, str(i)) for i in range(3)]
    for orderid in orderids:                    # the third is out of stock
        api_client.post("/allocate", json={"orderid": orderid, "sku": sku, "qty": 1})
    deadline, mine = time.monotonic() + 3, []
    while time.monotonic() < deadline and len(mine) < 3:
        mine = [fields for _, fields in bus.xrange("allocation:events")
                if json.loads(fields[b"payload"]).get("sku") == sku]
        time.sleep(0.05)
    assert [f[b"event"] for f in mine] == [b"Allocated", b"Allocated", b"OutOfStock"]
    assert [json.loads(f[b"payload"]).get("orderid") for f in mine] == orderids[:2] + [None]
    ids = [int(f[b"id"]) for f in mine]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_commands_through_the_stream_are_answered_once(api_client, bus, random_suffix):
    sku, ref, orderid = random_sku(random_suffix, "cmd"), random_batchref(random_suffix, "cmd"), random_orderid(random_suffix)
    request = bus.xadd("allocation:commands", {"command": "add_batch",
                                                "payload": json.dumps({"ref": ref, "sku": sku, "qty": 5, "eta": None})})
    allocate = bus.xadd("allocation:commands", {"command": "allocate",
                                                 "payload": json.dumps({"orderid": orderid, "sku": sku, "qty": 2})})
    unknown = bus.xadd("allocation:commands", {"command": "allocate",
                                                "payload": json.dumps({"orderid": orderid, "sku": "nope-" + sku, "qty": 2})})
    wanted = {request, allocate, unknown}
    deadline, results = time.monotonic() + 3, {}
    while time.monotonic() < deadline and set(results) != wanted:
        results = {fields[b"request"]: fields for _, fields in bus.xrange("allocation:results")
                   if fields[b"request"] in wanted}
        time.sleep(0.05)
    assert results[request][b"status"] == b"ok"
    assert json.loads(results[allocate][b"result"]) == {"batchref": ref}
    assert (results[unknown][b"status"], results[unknown][b"sqlstate"]) == (b"error", b"AL001")
    assert api_client.get("/allocations/%s" % orderid).get_json() == [{"sku": sku, "batchref": ref}]
