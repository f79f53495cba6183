"""scripts/demo_bus.py: the book's message bus, shown (scripts/demo runs it).

Other services talk to allocation only through Redis: the API (app.py)
adds batches and allocates an order, a change_batch_quantity command is
published on Redis, and allocation-consumer runs it; the reallocation's
line_allocated comes back through allocation-relay, as the book's message.
Then a command through the stream allocation:commands, answered once in
allocation:results.

    /usr/bin/python3 scripts/demo_bus.py API_URL REDIS_PORT
"""
import json
import sys
import time
import urllib.request

import redis


def call(api, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api + path, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        answer = error.code, error.read().decode()
    print("   %s %s %s -> %d %s" % (method, path, json.dumps(body) if body else "", answer[0], answer[1].strip()))


def wait_for_event(r, orderid):
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if any(json.loads(fields["payload"]).get("orderid") == orderid for _, fields in r.xrange("allocation:events")):
            return
        time.sleep(0.02)
    sys.exit("the relay did not deliver order %s's event within 3 seconds" % orderid)


def main():
    api, r = sys.argv[1], redis.Redis(host="127.0.0.1", port=int(sys.argv[2]), decode_responses=True)

    print("== 1. The API: two batches, an order allocated to the earlier")
    call(api, "POST", "/add_batch", {"ref": "earlier-batch", "sku": "RED-CHAIR", "qty": 10, "eta": "2011-01-01"})
    call(api, "POST", "/add_batch", {"ref": "later-batch", "sku": "RED-CHAIR", "qty": 10, "eta": "2011-01-02"})
    call(api, "POST", "/allocate", {"orderid": "order-1", "sku": "RED-CHAIR", "qty": 10})

    wait_for_event(r, "order-1")               # its line_allocated went out before we listen

    print("== 2. Another service publishes change_batch_quantity on Redis; we listen on line_allocated")
    subscription = r.pubsub()
    subscription.subscribe("line_allocated")
    subscription.get_message(timeout=1)
    command = json.dumps({"batchref": "earlier-batch", "qty": 5})
    started = time.monotonic()
    r.publish("change_batch_quantity", command)
    print("   PUBLISH change_batch_quantity %s" % command)
    message = None
    while message is None and time.monotonic() - started < 3:
        message = subscription.get_message(timeout=0.1)
        if message and message["type"] != "message":
            message = None
    if message is None:
        sys.exit("no line_allocated within 3 seconds")
    print("   line_allocated %s   (%.0f ms after the command)" % (message["data"], (time.monotonic() - started) * 1000))
    call(api, "GET", "/allocations/order-1")

    print("== 3. Every event is in the stream allocation:events, once, in commit order")
    for entry, fields in r.xrange("allocation:events"):
        print("   %-22s %-10s %s" % (entry, fields["event"], fields["payload"]))

    print("== 4. A command through the stream allocation:commands is applied once and answered")
    request = r.xadd("allocation:commands", {"command": "allocate",
                                             "payload": json.dumps({"orderid": "order-2", "sku": "RED-CHAIR", "qty": 3})})
    print("   XADD allocation:commands allocate order-2 -> %s" % request)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        answers = [fields for _, fields in r.xrange("allocation:results") if fields["request"] == request]
        if answers:
            print("   allocation:results %s" % json.dumps(answers[0]))
            break
        time.sleep(0.05)
    else:
        sys.exit("no result within 3 seconds")


if __name__ == "__main__":
    main()
