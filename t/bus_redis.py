"""t/bus_redis.py: what t/007_bus.pl asks of Redis, through python3-redis.

    bus_redis.py PORT entries STREAM            the stream's entries, one JSON line each:
                                                {"entry": ID, "fields": {...}}
    bus_redis.py PORT add STREAM [PER_SECOND]   add the entries read from stdin, one JSON
                                                object of fields per line, paced; a value
                                                {"hex": "..."} is sent as those bytes
    bus_redis.py PORT listen CHANNELS SECONDS   print "subscribed", then each message on the
                                                channels (comma-separated) as a JSON line
                                                {"channel", "data"}, for SECONDS
    bus_redis.py PORT publish CHANNEL MESSAGE   publish one message
    bus_redis.py PORT pending STREAM GROUP      the group's pending count
    bus_redis.py PORT pause MILLISECONDS        hold every client's writes that long
"""
import json
import sys
import time

import redis


def value(v):
    return bytes.fromhex(v["hex"]) if isinstance(v, dict) else v


def main():
    port, what = int(sys.argv[1]), sys.argv[2]
    r = redis.Redis(host="127.0.0.1", port=port)
    if what == "entries":
        for entry, fields in r.xrange(sys.argv[3]):
            print(json.dumps({"entry": entry.decode(),
                              "fields": {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}}))
    elif what == "add":
        per_second = float(sys.argv[4]) if len(sys.argv) > 4 else 0
        started, n = time.monotonic(), 0
        for line in sys.stdin:
            fields = {k: value(v) for k, v in json.loads(line).items()}
            print(r.xadd(sys.argv[3], fields).decode(), flush=True)
            n += 1
            if per_second:
                time.sleep(max(0, started + n / per_second - time.monotonic()))
    elif what == "listen":
        pubsub = r.pubsub()
        channels = sys.argv[3].split(",")
        pubsub.subscribe(*channels)
        for _ in channels:                      # the subscriptions' confirmations
            pubsub.get_message(timeout=5)
        print("subscribed", flush=True)
        deadline = time.monotonic() + float(sys.argv[4])
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=max(0.01, deadline - time.monotonic()))
            if message and message["type"] == "message":
                print(json.dumps({"channel": message["channel"].decode(),
                                  "data": message["data"].decode()}), flush=True)
    elif what == "publish":
        print(r.publish(sys.argv[3], sys.argv[4]))
    elif what == "pending":
        print(r.xpending(sys.argv[3], sys.argv[4])["pending"])
    elif what == "pause":
        r.client_pause(int(sys.argv[3]), all=False)
    else:
        sys.exit("unknown request %s" % what)


if __name__ == "__main__":
    main()
