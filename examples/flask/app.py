"""The book's HTTP API as a thin Flask app over the allocation extension.

One SQL call per request; the database transaction is the unit of work.
Run it:  ALLOCATION_DSN="dbname=shop" /usr/bin/python3 app.py --port 5000
"""
import argparse
import contextlib
import datetime
import os

import psycopg2
import psycopg2.pool
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

# The extension's SQLSTATEs as HTTP answers: the one place they are mapped.
HTTP_STATUS = {
    "AL001": 400,   # Invalid sku <sku>
    "AL002": 404,   # unknown batch
    "AL003": 409,   # the line is held with another qty
    "22004": 400,   # a NULL argument
    "22023": 400,   # bad quantity or identifier
    "22003": 400,   # out of range
    "22007": 400,   # bad date
    "22008": 400,   # date out of range
    "23505": 409,   # the batch reference exists
    "40001": 503,   # serialization failure: retry
    "40P01": 503,   # deadlock: retry
    "55P03": 503,   # lock_timeout: retry
}


class BadRequest(Exception):
    """A request the API refuses before it reaches the database, naming the
    field at fault."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class PooledDatabase:
    """Production: a connection from the pool per request, committed at the end."""

    def __init__(self, dsn, maxconn=10):
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, maxconn, dsn)

    @contextlib.contextmanager
    def unit_of_work(self):
        conn = self.pool.getconn()
        try:
            with conn:              # COMMIT on success, ROLLBACK on error
                with conn.cursor() as cur:
                    yield cur
        finally:
            self.pool.putconn(conn)


class SavepointDatabase:
    """Tests: one connection inside the test's transaction; a unit of work is
    a savepoint, so the app 'commits' while the test can still roll back."""

    def __init__(self, conn):
        self.conn = conn

    @contextlib.contextmanager
    def unit_of_work(self):
        with self.conn.cursor() as cur:
            cur.execute("SAVEPOINT unit_of_work")
            try:
                yield cur
            except Exception:
                cur.execute("ROLLBACK TO SAVEPOINT unit_of_work")
                raise
            cur.execute("RELEASE SAVEPOINT unit_of_work")


def field(body, name, kind, optional=False):
    """body[name] checked against kind (bool is not an int here)."""
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest("%s must be a %s" % (name, "string" if kind is str else "integer"), name)
    if kind is str and "\x00" in value:    # PostgreSQL's text cannot hold it
        raise BadRequest("%s must not contain the character U+0000" % name, name)
    if kind is int and not -2 ** 31 <= value < 2 ** 31:
        raise BadRequest("%s is out of range for an integer" % name, name)
    return value


def json_body():
    """The request body as a JSON object, whatever Content-Type says."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def create_app(database):
    app = Flask(__name__)

    @app.errorhandler(BadRequest)
    def bad_request(error):
        return jsonify(message=str(error), field=error.field), 400

    @app.errorhandler(psycopg2.Error)
    def database_error(error):
        status = HTTP_STATUS.get(error.pgcode)
        if status is None:
            raise error
        message = error.diag.message_primary
        if status != 400:
            return jsonify(message=message), status
        # The extension's argument errors start with the argument's name
        # ("qty must be at least 1, not 0"); AL001 is about the sku.  The
        # argument came in the body or in the path.
        first_word = message.split(" ", 1)[0]
        body = request.get_json(force=True, silent=True)
        fields = set(body if isinstance(body, dict) else ()) | set(request.view_args or ())
        name = "sku" if error.pgcode == "AL001" else first_word if first_word in fields else None
        return jsonify(message=message, field=name), status

    @app.errorhandler(HTTPException)
    def http_error(error):
        # unknown routes (404), methods (405) and the like answer JSON too
        return jsonify(message=error.description), error.code

    @app.errorhandler(500)
    def internal_error(error):
        return jsonify(message="internal error"), 500

    @app.post("/add_batch")
    def add_batch():
        body = json_body()
        eta = field(body, "eta", str, optional=True)
        if eta is not None:
            try:
                eta = datetime.date.fromisoformat(eta)
            except ValueError:
                raise BadRequest("eta must be an ISO date (YYYY-MM-DD) or null", "eta")
        args = (field(body, "ref", str), field(body, "sku", str), field(body, "qty", int), eta)
        with database.unit_of_work() as cur:
            cur.execute("SELECT allocation.add_batch(%s::text, %s::text, %s::integer, %s::date)", args)
        return "OK", 201

    @app.post("/allocate")
    def allocate():
        body = json_body()
        args = (field(body, "orderid", str), field(body, "sku", str), field(body, "qty", int))
        with database.unit_of_work() as cur:
            cur.execute("SELECT allocation.allocate(%s::text, %s::text, %s::integer)", args)
            batchref = cur.fetchone()[0]
        if batchref is None:
            return jsonify(message="Out of stock for sku %s" % args[1]), 409
        return jsonify(batchref=batchref), 202

    @app.post("/deallocate")
    def deallocate():
        body = json_body()
        args = (field(body, "orderid", str), field(body, "sku", str))
        with database.unit_of_work() as cur:
            cur.execute("SELECT allocation.deallocate(%s::text, %s::text)", args)
            batchref = cur.fetchone()[0]
        if batchref is None:
            return jsonify(message="order line %s/%s is not allocated" % args), 404
        return jsonify(batchref=batchref), 200

    @app.get("/allocations/<orderid>")
    def allocations(orderid):
        with database.unit_of_work() as cur:
            cur.execute("SELECT sku, batchref FROM allocation.allocations(%s::text)", (orderid,))
            rows = cur.fetchall()
        if not rows:
            return jsonify(message="not found"), 404
        return jsonify([{"sku": sku, "batchref": batchref} for sku, batchref in rows]), 200

    @app.get("/batches")
    def batches():
        with database.unit_of_work() as cur:
            cur.execute("SELECT reference, sku, eta, purchased_quantity, available_quantity"
                        " FROM allocation.batch_stock ORDER BY sku, eta NULLS FIRST, reference")
            rows = cur.fetchall()
        return jsonify([{"reference": r[0], "sku": r[1], "eta": r[2] and r[2].isoformat(),
                         "purchased_quantity": r[3], "available_quantity": r[4]} for r in rows]), 200

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    options = parser.parse_args()
    app = create_app(PooledDatabase(os.environ.get("ALLOCATION_DSN", "")))
    app.run(host=options.host, port=options.port, threaded=True)


if __name__ == "__main__":
    main()
