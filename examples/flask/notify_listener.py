"""A NOTIFY listener: prints each line_allocated and out_of_stock event as a
JSON line.  PostgreSQL delivers a NOTIFY only when its transaction commits,
so nothing rolled back ever leaves the database.

A wake-up for small set-ups, not a delivery guarantee: NOTIFY is opt-in
(allocation.notify = on for the application's role), a notification sent
while this listener is down is lost, and any role that can connect can send a
forged one, so a payload that is not a JSON object is reported and skipped.
For every event exactly once, use allocation-relay (bus/, logical decoding).

Run it:  ALLOCATION_DSN="dbname=shop" /usr/bin/python3 notify_listener.py
"""
import argparse
import json
import os
import select
import sys

import psycopg2

CHANNELS = ("line_allocated", "out_of_stock")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=0, help="stop after this many events (0: never)")
    options = parser.parse_args()

    conn = psycopg2.connect(os.environ.get("ALLOCATION_DSN", ""))
    conn.autocommit = True
    with conn.cursor() as cur:
        for channel in CHANNELS:
            cur.execute("LISTEN %s" % channel)
    print(json.dumps({"listening": list(CHANNELS)}), flush=True)

    relayed = 0
    while options.count == 0 or relayed < options.count:
        select.select([conn], [], [])
        conn.poll()
        while conn.notifies:
            notify = conn.notifies.pop(0)
            try:
                payload = json.loads(notify.payload)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                print(json.dumps({"skipped": notify.channel, "payload": notify.payload}), file=sys.stderr, flush=True)
                continue
            print(json.dumps({"channel": notify.channel, "payload": payload}), flush=True)
            relayed += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
