/*-------------------------------------------------------------------------
 *
 * bus/test_pgoutput.c
 *		Unit tests of bus/pgoutput.c on messages built byte by byte as the
 *		PostgreSQL documentation lays them out ("Logical Replication
 *		Message Formats", protocol 1): transactions of outbox rows decoded,
 *		other relations skipped, every malformed message refused.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"
#include "tap.h"

typedef struct Msg
{
	unsigned char data[1024];
	size_t		len;
} Msg;

static void
u8(Msg *m, unsigned v)
{
	m->data[m->len++] = (unsigned char) v;
}

static void
u16(Msg *m, unsigned v)
{
	u8(m, v >> 8);
	u8(m, v);
}

static void
u32(Msg *m, uint32_t v)
{
	u16(m, v >> 16);
	u16(m, v & 0xFFFF);
}

static void
u64(Msg *m, uint64_t v)
{
	u32(m, (uint32_t) (v >> 32));
	u32(m, (uint32_t) v);
}

static void
cstr(Msg *m, const char *s)
{
	memcpy(m->data + m->len, s, strlen(s) + 1);
	m->len += strlen(s) + 1;
}

static void
text_column(Msg *m, const char *s)
{
	u8(m, 't');
	u32(m, (uint32_t) strlen(s));
	memcpy(m->data + m->len, s, strlen(s));
	m->len += strlen(s);
}

/* Relation: the outbox, columns in the order given. */
static Msg
relation(uint32_t relid, const char *nsp, const char *rel, const char **columns, int n)
{
	Msg			m = {{0}, 0};
	int			i;

	u8(&m, 'R');
	u32(&m, relid);
	cstr(&m, nsp);
	cstr(&m, rel);
	u8(&m, 'd');
	u16(&m, (unsigned) n);
	for (i = 0; i < n; i++)
	{
		u8(&m, 0);
		cstr(&m, columns[i]);
		u32(&m, 25);
		u32(&m, 0xFFFFFFFF);
	}
	return m;
}

static Msg
begin(uint64_t final_lsn)
{
	Msg			m = {{0}, 0};

	u8(&m, 'B');
	u64(&m, final_lsn);
	u64(&m, 0);
	u32(&m, 1234);
	return m;
}

static Msg
commit(uint64_t commit_lsn, uint64_t end_lsn)
{
	Msg			m = {{0}, 0};

	u8(&m, 'C');
	u8(&m, 0);
	u64(&m, commit_lsn);
	u64(&m, end_lsn);
	u64(&m, 0);
	return m;
}

/* Insert into relid: id, occurred_at, event, payload (the outbox's order). */
static Msg
insert(uint32_t relid, const char *id, const char *occurred_at, const char *event, const char *payload)
{
	Msg			m = {{0}, 0};

	u8(&m, 'I');
	u32(&m, relid);
	u8(&m, 'N');
	u16(&m, 4);
	text_column(&m, id);
	if (occurred_at)
		text_column(&m, occurred_at);
	else
		u8(&m, 'n');
	text_column(&m, event);
	text_column(&m, payload);
	return m;
}

static DecodeResult
feed(Decoder *d, Msg m, Transaction *done)
{
	return pgoutput_decode(d, m.data, m.len, done);
}

static const char *outbox_columns[] = {"id", "occurred_at", "event", "payload"};

int
main(void)
{
	Decoder		d;
	Transaction done;
	Msg			m;
	char		iso[40];

	decoder_init(&d);
	ok(feed(&d, relation(16400, "allocation", "events", outbox_columns, 4), &done) == DECODED_NOTHING,
	   "the outbox's relation is described");
	ok(feed(&d, begin(0x1000), &done) == DECODED_NOTHING, "begin");
	ok(feed(&d, insert(16400, "7", "2026-11-30 01:02:03.5+00", "Allocated",
					   "{\"qty\": 1, \"sku\": \"S\", \"orderid\": \"o\", \"batchref\": \"b\"}"), &done) == DECODED_NOTHING,
	   "an insert");
	ok(feed(&d, insert(16400, "8", "2026-11-30 01:02:03+00", "OutOfStock", "{\"sku\": \"S\"}"), &done) == DECODED_NOTHING,
	   "another insert");
	ok(feed(&d, commit(0x1000, 0x1040), &done) == DECODED_COMMIT, "commit ends the transaction");
	ok(done.commit_lsn == 0x1000 && done.end_lsn == 0x1040, "with its commit and end LSNs");
	ok(done.nevents == 2, "and its two events");
	is_str(done.events[0].id, "7", "the first event's id");
	is_str(done.events[0].event, "Allocated", "its name");
	is_str(done.events[0].occurred_at, "2026-11-30T01:02:03.500000Z", "its time, ISO 8601 in UTC");
	is_str(done.events[1].occurred_at, "2026-11-30T01:02:03.000000Z", "whole seconds get microseconds too");
	is_str(done.events[1].payload, "{\"sku\": \"S\"}", "the payload as sent");
	transaction_free(&done);

	/* another table of the publication is skipped; a type or origin is nothing */
	ok(feed(&d, relation(16500, "public", "other", outbox_columns, 2), &done) == DECODED_NOTHING,
	   "another relation is described");
	feed(&d, begin(0x2000), &done);
	m = insert(16500, "1", "x", "y", "z");
	m.data[7] = 0;
	m.data[8] = 2;				/* two columns */
	m.len = 9 + 5 + 1 + 5 + 1;
	ok(feed(&d, m, &done) == DECODED_NOTHING, "its insert is skipped");
	ok(feed(&d, commit(0x2000, 0x2010), &done) == DECODED_COMMIT && done.nevents == 0,
	   "a transaction of other rows has no events");
	transaction_free(&done);
	m.len = 0;
	u8(&m, 'Y');
	ok(feed(&d, m, &done) == DECODED_NOTHING, "a type message is nothing of ours");

	/* columns in another order, as after ALTER TABLE: found by name */
	{
		static const char *moved[] = {"payload", "event", "id", "occurred_at"};
		Decoder		d2;
		Msg			i = {{0}, 0};

		decoder_init(&d2);
		feed(&d2, relation(1, "allocation", "events", moved, 4), &done);
		feed(&d2, begin(0x3000), &done);
		u8(&i, 'I');
		u32(&i, 1);
		u8(&i, 'N');
		u16(&i, 4);
		text_column(&i, "{}");
		text_column(&i, "Held");
		text_column(&i, "9");
		text_column(&i, "2026-01-02 03:04:05.123456+00");
		feed(&d2, i, &done);
		feed(&d2, commit(0x3000, 0x3008), &done);
		is_str(done.events[0].id, "9", "columns found by name, not by place");
		is_str(done.events[0].occurred_at, "2026-01-02T03:04:05.123456Z", "microseconds kept");
		transaction_free(&done);
		free(d2.relations);
	}

	/* what is refused */
	m = insert(16400, "7", "2026-11-30 01:02:03+00", "Allocated", "{}");
	ok(feed(&d, m, &done) == DECODED_ERROR, "an insert outside a transaction is refused");
	feed(&d, begin(0x4000), &done);
	ok(feed(&d, insert(99999, "7", "2026-11-30 01:02:03+00", "A", "{}"), &done) == DECODED_ERROR,
	   "an insert into an undescribed relation is refused");
	m = insert(16400, "7", "2026-11-30 01:02:03+00", "Allocated", "{}");
	m.len -= 3;
	ok(feed(&d, m, &done) == DECODED_ERROR, "an insert that ends early is refused");
	ok(feed(&d, insert(16400, "7", NULL, "Allocated", "{}"), &done) == DECODED_ERROR,
	   "an outbox row with a NULL column is refused");
	ok(feed(&d, insert(16400, "7", "2026-11-30 01:02:03-05", "Allocated", "{}"), &done) == DECODED_ERROR,
	   "a time not in UTC is refused");
	ok(feed(&d, commit(0x4001, 0x4010), &done) == DECODED_ERROR, "a commit of another transaction is refused");
	decoder_free(&d);
	m.len = 0;
	u8(&m, 'U');
	ok(feed(&d, m, &done) == DECODED_ERROR, "an update is refused (the publication publishes inserts)");
	m.len = 0;
	u8(&m, 'Z');
	ok(feed(&d, m, &done) == DECODED_ERROR, "an unknown message is refused");
	m = begin(0x5000);
	m.len = 10;
	ok(feed(&d, m, &done) == DECODED_ERROR, "a begin that ends early is refused");
	m = relation(1, "allocation", "events", outbox_columns, 3);
	ok(feed(&d, m, &done) == DECODED_ERROR, "an outbox lacking a column is refused");
	ok(pgoutput_decode(&d, (const unsigned char *) "", 0, &done) == DECODED_ERROR, "an empty message is refused");

	/* timestamps */
	ok(iso_utc("2026-11-30 01:02:03+00", iso, sizeof(iso)) && strcmp(iso, "2026-11-30T01:02:03.000000Z") == 0,
	   "iso_utc: whole seconds");
	ok(iso_utc("2026-11-30 01:02:03.1+00", iso, sizeof(iso)) && strcmp(iso, "2026-11-30T01:02:03.100000Z") == 0,
	   "iso_utc: tenths");
	ok(!iso_utc("2026-11-30 01:02:03+01", iso, sizeof(iso)), "iso_utc: another offset is refused");
	ok(!iso_utc("Mon Nov 30 01:02:03 2026 UTC", iso, sizeof(iso)), "iso_utc: another DateStyle is refused");
	ok(!iso_utc("infinity", iso, sizeof(iso)), "iso_utc: infinity is refused");
	decoder_free(&d);
	return done_testing();
}
