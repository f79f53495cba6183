"""The reference event relay: every committed event of allocation.events,
exactly once, in commit order, appended to a file.

    /usr/bin/python3 examples/relay/relay.py --dsn DSN --slot NAME --out FILE

It reads the logical replication stream of the publication
allocation_events through a slot made by allocation.stream_setup(NAME),
decodes pgoutput (protocol 1) itself, and appends one JSON object per event
to FILE: {"id": ..., "event": ..., "payload": {...}, "occurred_at": ...}.

Exactly once, even under kill -9 or a server crash:
- a batch of whole transactions is appended to FILE, FILE is fsynced, then
  FILE.state records (atomically: write, fsync, rename, fsync the folder)
  the end LSN of the last transaction in FILE and FILE's size; only then is
  that LSN acknowledged to the server, which may then forget it;
- at start, FILE is cut back to the size in FILE.state (anything after it
  was never acknowledged), and a transaction the server sends again whose
  end LSN is not after the one in FILE.state is skipped (after a crash the
  server resends from the slot's last saved position).

Another sink (an HTTP webhook, a queue) plugs in by replacing FileSink: its
write() must make the events durable before returning, and what it stores
must be replayable from the LSN it remembers, or idempotent by event id;
the relay acknowledges an LSN only after write() returned.
"""
import argparse
import json
import os
import select
import struct
import sys
import time

import psycopg2
import psycopg2.extras

PUBLICATION = "allocation_events"


def lsn_text(lsn):
    return "%X/%X" % (lsn >> 32, lsn & 0xFFFFFFFF)


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


class FileSink:
    """Events appended to a file, with the position they reach in FILE.state."""

    def __init__(self, path):
        self.path = path
        self.state_path = path + ".state"
        self.lsn, size = self.read_state()
        # Cut off what was written after the last recorded state: it was
        # never acknowledged, so the server sends it again.
        with open(self.path, "ab") as f:
            f.truncate(size)
            os.fsync(f.fileno())
        self.file = open(self.path, "ab")

    def read_state(self):
        try:
            with open(self.state_path) as f:
                state = json.load(f)
            return lsn_value(state["lsn"]), state["size"]
        except FileNotFoundError:
            return 0, 0

    def write(self, lines, lsn):
        """Append lines (JSON texts) of transactions ending at lsn, durably."""
        if lines:
            self.file.write("".join(line + "\n" for line in lines).encode())
            self.file.flush()
            os.fsync(self.file.fileno())
        state = json.dumps({"lsn": lsn_text(lsn), "size": self.file.tell()})
        temporary = self.state_path + ".new"
        with open(temporary, "w") as f:
            f.write(state)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temporary, self.state_path)
        folder = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self.lsn = lsn


class PgOutput:
    """Decodes pgoutput protocol 1 messages into events of allocation.events."""

    def __init__(self):
        self.relations = {}     # relation id -> (schema, table, column names)
        self.events = []        # of the transaction being read
        self.commit_lsn = None

    @staticmethod
    def string(data, offset):
        end = data.index(b"\0", offset)
        return data[offset:end].decode(), end + 1

    def tuple_values(self, data, offset):
        (ncolumns,) = struct.unpack_from("!h", data, offset)
        offset += 2
        values = []
        for _ in range(ncolumns):
            kind = data[offset:offset + 1]
            offset += 1
            if kind == b"t":
                (length,) = struct.unpack_from("!i", data, offset)
                offset += 4
                values.append(data[offset:offset + length].decode())
                offset += length
            elif kind in (b"n", b"u"):
                values.append(None)
            else:
                raise ValueError("unexpected tuple column kind %r" % kind)
        return values

    def message(self, data):
        """Takes one message; returns (end LSN, events) at a commit, else None."""
        kind = data[:1]
        if kind == b"B":
            self.events = []
        elif kind == b"R":
            (relid,) = struct.unpack_from("!I", data, 1)
            schema, offset = self.string(data, 5)
            table, offset = self.string(data, offset)
            offset += 1                                     # replica identity
            (ncolumns,) = struct.unpack_from("!h", data, offset)
            offset += 2
            columns = []
            for _ in range(ncolumns):
                offset += 1                                 # flags
                name, offset = self.string(data, offset)
                offset += 8                                 # type oid, typmod
                columns.append(name)
            self.relations[relid] = (schema, table, columns)
        elif kind == b"I":
            (relid,) = struct.unpack_from("!I", data, 1)
            schema, table, columns = self.relations[relid]
            if (schema, table) == ("allocation", "events") and data[5:6] == b"N":
                row = dict(zip(columns, self.tuple_values(data, 6)))
                self.events.append(json.dumps({
                    "id": int(row["id"]),
                    "event": row["event"],
                    "payload": json.loads(row["payload"]),
                    "occurred_at": row["occurred_at"],
                }, sort_keys=False))
        elif kind == b"C":
            _flags, _commit_lsn, end_lsn, _timestamp = struct.unpack_from("!bQQq", data, 1)
            events, self.events = self.events, []
            return end_lsn, events
        # Type, Origin, Truncate, Update, Delete, Message: nothing to relay
        return None


def relay(options, sink):
    """Streams until the connection breaks; returns normally only on --once."""
    conn = psycopg2.connect(options.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    cur.start_replication(slot_name=options.slot, decode=False, start_lsn=sink.lsn,
                          options={"proto_version": "1", "publication_names": PUBLICATION})
    decoder = PgOutput()
    pending, pending_lsn = [], None
    quiet_since = time.monotonic()
    while True:
        message = cur.read_message()
        if message is not None:
            done = decoder.message(message.payload)
            if done is not None:
                end_lsn, events = done
                if end_lsn > sink.lsn:          # else: sent again after a crash
                    pending.extend(events)
                    pending_lsn = end_lsn
            # Group commit: keep reading while messages come, up to a batch.
            if len(pending) < options.batch:
                continue
        if pending_lsn is not None:
            sink.write(pending, pending_lsn)
            cur.send_feedback(write_lsn=pending_lsn, flush_lsn=pending_lsn, force=True)
            pending, pending_lsn = [], None
            quiet_since = time.monotonic()
            continue
        if options.once and time.monotonic() - quiet_since > options.once:
            return
        select.select([cur], [], [], 1.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string of the database")
    parser.add_argument("--slot", required=True, help="slot made by allocation.stream_setup()")
    parser.add_argument("--out", required=True, help="the file events are appended to")
    parser.add_argument("--batch", type=int, default=1000, help="events per fsync at most")
    parser.add_argument("--once", type=float, default=0,
                        help="stop after this many seconds with nothing new (0: run for ever)")
    options = parser.parse_args()

    sink = FileSink(options.out)
    while True:
        try:
            relay(options, sink)
            return 0
        except psycopg2.OperationalError as error:
            # The server went away: what is in the file is durable and
            # acknowledged up to sink.lsn; connect again and go on from there.
            print("relay: %s; reconnecting" % str(error).strip(), file=sys.stderr, flush=True)
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
