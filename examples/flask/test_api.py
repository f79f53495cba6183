"""The book's API tests (test_api.py), plus every error mapping, run in both
modes (see conftest.py).  The last test proves that the rollback mode left
nothing behind."""
import json
import os
import subprocess
import sys

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))


def random_sku(suffix, name=""):
    return "sku-%s-%s" % (name, suffix)


def random_batchref(suffix, name=""):
    return "batch-%s-%s" % (name, suffix)


def random_orderid(suffix, name=""):
    return "order-%s-%s" % (name, suffix)


def post_to_add_batch(client, ref, sku, qty, eta):
    response = client.post("/add_batch", json={"ref": ref, "sku": sku, "qty": qty, "eta": eta})
    assert response.status_code == 201


# -- the book's tests ---------------------------------------------------------

def test_happy_path_returns_202_and_batch_is_allocated(client, random_suffix):
    orderid = random_orderid(random_suffix)
    sku, othersku = random_sku(random_suffix), random_sku(random_suffix, "other")
    earlybatch = random_batchref(random_suffix, "1")
    laterbatch = random_batchref(random_suffix, "2")
    otherbatch = random_batchref(random_suffix, "3")
    post_to_add_batch(client, laterbatch, sku, 100, "2011-01-02")
    post_to_add_batch(client, earlybatch, sku, 100, "2011-01-01")
    post_to_add_batch(client, otherbatch, othersku, 100, None)

    response = client.post("/allocate", json={"orderid": orderid, "sku": sku, "qty": 3})
    assert response.status_code == 202
    assert response.get_json() == {"batchref": earlybatch}

    response = client.get("/allocations/%s" % orderid)
    assert response.status_code == 200
    assert response.get_json() == [{"sku": sku, "batchref": earlybatch}]


def test_unhappy_path_returns_400_and_error_message(client, random_suffix):
    unknown_sku, orderid = random_sku(random_suffix), random_orderid(random_suffix)
    response = client.post("/allocate", json={"orderid": orderid, "sku": unknown_sku, "qty": 20})
    assert response.status_code == 400
    assert response.get_json() == {"message": "Invalid sku %s" % unknown_sku, "field": "sku"}

    response = client.get("/allocations/%s" % orderid)
    assert response.status_code == 404


# -- every error mapping ------------------------------------------------------

def test_out_of_stock_is_409(client, random_suffix):
    sku = random_sku(random_suffix)
    post_to_add_batch(client, random_batchref(random_suffix), sku, 5, None)
    response = client.post("/allocate", json={"orderid": random_orderid(random_suffix), "sku": sku, "qty": 6})
    assert response.status_code == 409
    assert response.get_json() == {"message": "Out of stock for sku %s" % sku}


def test_same_line_with_another_qty_is_409(client, random_suffix):
    sku, orderid = random_sku(random_suffix), random_orderid(random_suffix)
    post_to_add_batch(client, random_batchref(random_suffix), sku, 50, None)
    assert client.post("/allocate", json={"orderid": orderid, "sku": sku, "qty": 2}).status_code == 202
    response = client.post("/allocate", json={"orderid": orderid, "sku": sku, "qty": 3})
    assert response.status_code == 409
    assert "already allocated" in response.get_json()["message"]


def test_existing_batch_reference_is_409(client, random_suffix):
    ref, sku = random_batchref(random_suffix), random_sku(random_suffix)
    post_to_add_batch(client, ref, sku, 5, None)
    response = client.post("/add_batch", json={"ref": ref, "sku": sku, "qty": 5, "eta": None})
    assert response.status_code == 409
    assert response.get_json() == {"message": "batch \"%s\" already exists" % ref}


def test_malformed_json_is_400(client):
    for body in ["{not json", "", "[1, 2]", '"a string"', "null"]:
        response = client.post("/allocate", data=body)
        assert response.status_code == 400, body
        assert response.get_json() == {"message": "the request body must be a JSON object", "field": None}


def test_json_body_is_read_whatever_its_content_type(client, random_suffix):
    sku, ref = random_sku(random_suffix), random_batchref(random_suffix)
    body = json.dumps({"ref": ref, "sku": sku, "qty": 5, "eta": None})
    for content_type in ["text/plain", "application/x-www-form-urlencoded", None]:
        response = client.post("/add_batch", data=body, content_type=content_type)
        assert response.status_code in (201, 409), content_type
    assert ref in [batch["reference"] for batch in client.get("/batches").get_json()]


def test_missing_or_ill_typed_fields_are_400(client, random_suffix):
    good = {"orderid": random_orderid(random_suffix), "sku": random_sku(random_suffix), "qty": 1}
    cases = [("orderid", None), ("sku", None), ("qty", None), ("qty", "3"), ("qty", True),
             ("qty", 1.5), ("sku", 42), ("orderid", ["o1"])]
    for name, value in cases:
        body = dict(good)
        if value is None:
            del body[name]
        else:
            body[name] = value
        response = client.post("/allocate", json=body)
        assert response.status_code == 400, (name, value)
        assert name in response.get_json()["message"], (name, value)
        assert response.get_json()["field"] == name, (name, value)


def test_values_the_database_refuses_are_400(client, random_suffix):
    sku = random_sku(random_suffix)
    post_to_add_batch(client, random_batchref(random_suffix), sku, 5, None)
    for body, message, name in [
        ({"orderid": "o", "sku": sku, "qty": 0}, "qty must be at least 1, not 0", "qty"),
        ({"orderid": "", "sku": sku, "qty": 1}, "orderid must not be empty or blank", "orderid"),
        ({"orderid": "o", "sku": sku, "qty": 2 ** 31}, "out of range", "qty"),
    ]:
        response = client.post("/allocate", json=body)
        assert response.status_code == 400, body
        assert message in response.get_json()["message"], body
        assert response.get_json()["field"] == name, body
    response = client.post("/add_batch", json={"ref": "r", "sku": sku, "qty": -1, "eta": None})
    assert response.status_code == 400
    response = client.post("/add_batch", json={"ref": "r", "sku": sku, "qty": 1, "eta": "2011-13-01"})
    assert response.status_code == 400
    assert "eta" in response.get_json()["message"]
    assert response.get_json()["field"] == "eta"


def test_a_nul_character_is_400_naming_its_field(client, random_suffix):
    sku = random_sku(random_suffix)
    for body, name in [({"orderid": "o\u0000", "sku": sku, "qty": 1}, "orderid"),
                       ({"orderid": "o", "sku": "\u0000", "qty": 1}, "sku")]:
        response = client.post("/allocate", json=body)
        assert response.status_code == 400, body
        assert response.get_json() == {"message": "%s must not contain the character U+0000" % name,
                                       "field": name}
    response = client.post("/add_batch", data='{"ref": "r\\u0000", "sku": "s", "qty": 1, "eta": null}')
    assert response.status_code == 400
    assert response.get_json()["field"] == "ref"


def test_an_order_id_in_the_path_is_named_when_refused(client):
    for path, message in [("/allocations/%20", "orderid must not be empty or blank"),
                          ("/allocations/" + "o" * 256, "orderid is too long")]:
        response = client.get(path)
        assert response.status_code == 400, path
        assert message in response.get_json()["message"], path
        assert response.get_json()["field"] == "orderid", path


def test_unknown_routes_and_methods_answer_json(client):
    response = client.get("/no-such-route")
    assert response.status_code == 404
    assert "message" in response.get_json()
    response = client.get("/allocate")
    assert response.status_code == 405
    assert "message" in response.get_json()


def test_deallocate_frees_the_line(client, random_suffix):
    sku, ref, orderid = random_sku(random_suffix), random_batchref(random_suffix), random_orderid(random_suffix)
    post_to_add_batch(client, ref, sku, 5, None)
    assert client.post("/allocate", json={"orderid": orderid, "sku": sku, "qty": 5}).status_code == 202
    response = client.post("/deallocate", json={"orderid": orderid, "sku": sku})
    assert response.status_code == 200
    assert response.get_json() == {"batchref": ref}
    assert client.get("/allocations/%s" % orderid).status_code == 404
    response = client.post("/deallocate", json={"orderid": orderid, "sku": sku})
    assert response.status_code == 404
    response = client.post("/deallocate", json={"orderid": orderid})
    assert response.status_code == 400
    assert response.get_json()["field"] == "sku"


def test_batches_lists_available_quantities(client, random_suffix):
    sku = random_sku(random_suffix)
    ref = random_batchref(random_suffix)
    post_to_add_batch(client, ref, sku, 10, "2030-01-01")
    client.post("/allocate", json={"orderid": random_orderid(random_suffix), "sku": sku, "qty": 4})
    response = client.get("/batches")
    assert response.status_code == 200
    mine = [b for b in response.get_json() if b["sku"] == sku]
    assert mine == [{"reference": ref, "sku": sku, "eta": "2030-01-01",
                     "purchased_quantity": 10, "available_quantity": 6}]


# -- the NOTIFY listener --------------------------------------------------

def test_notify_listener_prints_events_only_after_commit(random_suffix):
    dsn = os.environ["ALLOCATION_E2E_DSN"]
    listener = subprocess.Popen([sys.executable, os.path.join(HERE, "notify_listener.py"), "--count", "2"],
                                env=dict(os.environ, ALLOCATION_DSN=dsn), stdout=subprocess.PIPE, text=True)
    try:
        assert json.loads(listener.stdout.readline()) == {"listening": ["line_allocated", "out_of_stock"]}
        sku, ref, orderid = random_sku(random_suffix), random_batchref(random_suffix), random_orderid(random_suffix)
        forger = psycopg2.connect(dsn)          # any role can NOTIFY: the listener skips what is not JSON
        forger.autocommit = True
        with forger.cursor() as cur:
            cur.execute("NOTIFY line_allocated, 'not json {'")
            cur.execute("NOTIFY out_of_stock, '[1, 2]'")
        forger.close()
        conn = psycopg2.connect(dsn, options="-c allocation.notify=on")   # NOTIFY is opt-in
        with conn, conn.cursor() as cur:
            cur.execute("SELECT allocation.add_batch(%s, %s, 1)", (ref, sku))
        with conn.cursor() as cur:              # a transaction that rolls back
            cur.execute("SELECT allocation.allocate(%s, %s, 1)", ("rolled-back", sku))
        conn.rollback()
        with conn, conn.cursor() as cur:        # one that commits
            cur.execute("SELECT allocation.allocate(%s, %s, 1)", (orderid, sku))
            cur.execute("SELECT allocation.allocate(%s, %s, 1)", (orderid + "-2", sku))
        conn.close()
        lines = [json.loads(listener.stdout.readline()) for _ in range(2)]
        assert listener.wait(timeout=10) == 0
    finally:
        listener.kill()
    assert lines == [
        {"channel": "line_allocated", "payload": {"orderid": orderid, "sku": sku, "qty": 1, "batchref": ref}},
        {"channel": "out_of_stock", "payload": {"sku": sku}},
    ]


# -- last: the rollback mode left nothing --------------------------------------

def test_zz_rollback_mode_left_nothing_behind():
    # as the tables' owner: the app's role reads only the views
    conn = psycopg2.connect(os.environ.get("ALLOCATION_OWNER_DSN", os.environ.get("ALLOCATION_DSN", "")))
    with conn.cursor() as cur:
        for table in ("products", "batches", "order_lines", "events"):
            cur.execute("SELECT count(*) FROM allocation.%s" % table)
            assert cur.fetchone()[0] == 0, table
    conn.close()
