"""Fixtures for the example's tests, in two modes.

rollback: the app runs in-process on one connection inside the test's
    transaction (SavepointDatabase), which the fixture rolls back: nothing a
    test writes survives it, although the app 'commits'.
server: the same tests over HTTP against app.py started as a real server
    process, committing for real in its own database; references are random,
    so runs never collide.

ALLOCATION_DSN names the rollback database, ALLOCATION_E2E_DSN the server's.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import psycopg2
import pytest

from app import SavepointDatabase, create_app

HERE = os.path.dirname(os.path.abspath(__file__))


class HttpResponse:
    def __init__(self, status_code, body):
        self.status_code = status_code
        self.body = body

    def get_json(self):
        return json.loads(self.body)


class HttpClient:
    """The part of Flask's test client the tests use, over real HTTP."""

    def __init__(self, base_url):
        self.base_url = base_url

    def open(self, method, path, data=None, json_body=None, content_type="application/json"):
        if json_body is not None:
            data = json.dumps(json_body)
        headers = {} if content_type is None else {"Content-Type": content_type}
        request = urllib.request.Request(self.base_url + path, method=method,
                                         data=None if data is None else data.encode(),
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return HttpResponse(response.status, response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, error.read())

    def get(self, path):
        return self.open("GET", path)

    def post(self, path, json=None, data=None, content_type="application/json"):
        return self.open("POST", path, data=data, json_body=json, content_type=content_type)


class FlaskClient:
    """Flask's test client with the same post(json=…/data=…) signature."""

    def __init__(self, app):
        self.client = app.test_client()

    def get(self, path):
        return self.client.get(path)

    def post(self, path, json=None, data=None, content_type="application/json"):
        if json is not None:
            return self.client.post(path, json=json)
        return self.client.post(path, data=data, content_type=content_type)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, process, what):
    """Wait until a process started in the background listens on port;
    kill it and fail when it exits or takes more than 20 s."""
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("%s did not start" % what)
            time.sleep(0.05)


@pytest.fixture(scope="session")
def server():
    """app.py as a real server process on a local port, for the session."""
    port = free_port()
    env = dict(os.environ, ALLOCATION_DSN=os.environ["ALLOCATION_E2E_DSN"])
    process = subprocess.Popen([sys.executable, os.path.join(HERE, "app.py"), "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "app.py")
    yield "http://127.0.0.1:%d" % port
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def rollback_connection():
    """A connection whose whole transaction is rolled back after the test."""
    conn = psycopg2.connect(os.environ.get("ALLOCATION_DSN", ""))
    yield conn
    conn.rollback()
    conn.close()


@pytest.fixture(params=["rollback", "server"])
def client(request):
    if request.param == "rollback":
        conn = request.getfixturevalue("rollback_connection")
        return FlaskClient(create_app(SavepointDatabase(conn)))
    return HttpClient(request.getfixturevalue("server"))


@pytest.fixture
def random_suffix():
    return uuid.uuid4().hex[:8]
