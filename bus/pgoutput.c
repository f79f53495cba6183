/*-------------------------------------------------------------------------
 *
 * bus/pgoutput.c
 *		Decoding the pgoutput stream (pgoutput.h).
 *
 * Message formats: PostgreSQL documentation, "Logical Replication Message
 * Formats" (protocol version 1).  The publication allocation_events sends
 * the inserts into allocation.events and nothing else; any other relation
 * is described and skipped.  Every read is bounds-checked: a message that
 * ends early or names an unknown relation is an error, never a guess.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "pgoutput.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message being read. */
typedef struct Reader
{
	const unsigned char *p;
	const unsigned char *end;
	bool		short_read;
} Reader;

static bool
need(Reader *r, size_t n)
{
	if ((size_t) (r->end - r->p) < n)
	{
		r->short_read = true;
		return false;
	}
	return true;
}

static uint8_t
read_u8(Reader *r)
{
	return need(r, 1) ? *r->p++ : 0;
}

static uint16_t
read_u16(Reader *r)
{
	uint16_t	v;

	if (!need(r, 2))
		return 0;
	v = (uint16_t) ((r->p[0] << 8) | r->p[1]);
	r->p += 2;
	return v;
}

static uint32_t
read_u32(Reader *r)
{
	uint32_t	v;

	if (!need(r, 4))
		return 0;
	v = ((uint32_t) r->p[0] << 24) | ((uint32_t) r->p[1] << 16) | ((uint32_t) r->p[2] << 8) | r->p[3];
	r->p += 4;
	return v;
}

static uint64_t
read_u64(Reader *r)
{
	uint64_t	high = read_u32(r);

	return (high << 32) | read_u32(r);
}

/* read_cstring: a zero-terminated string, in place; NULL when unterminated. */
static const char *
read_cstring(Reader *r)
{
	const unsigned char *start = r->p;

	while (r->p < r->end && *r->p != '\0')
		r->p++;
	if (r->p == r->end)
	{
		r->short_read = true;
		return NULL;
	}
	r->p++;
	return (const char *) start;
}

static DecodeResult
fail(Decoder *decoder, const char *fmt, const char *detail)
{
	snprintf(decoder->error, sizeof(decoder->error), fmt, detail);
	return DECODED_ERROR;
}

void
decoder_init(Decoder *decoder)
{
	memset(decoder, 0, sizeof(Decoder));
}

/* decoder_free: what the decoder holds (a transaction underway, relations). */
void
decoder_free(Decoder *decoder)
{
	transaction_free(&decoder->current);
	free(decoder->relations);
	decoder_init(decoder);
}

void
transaction_free(Transaction *transaction)
{
	int			i;

	for (i = 0; i < transaction->nevents; i++)
	{
		free(transaction->events[i].id);
		free(transaction->events[i].event);
		free(transaction->events[i].payload);
		free(transaction->events[i].occurred_at);
	}
	free(transaction->events);
	memset(transaction, 0, sizeof(Transaction));
}

static Relation *
find_relation(Decoder *decoder, uint32_t relid)
{
	int			i;

	for (i = 0; i < decoder->nrelations; i++)
	{
		if (decoder->relations[i].relid == relid)
			return &decoder->relations[i];
	}
	return NULL;
}

/*
 * decode_relation: 'R': relid, namespace, name, replica identity, the
 * columns (flags, name, type, typmod).  Remembers where the outbox's
 * columns are.
 */
static DecodeResult
decode_relation(Decoder *decoder, Reader *r)
{
	Relation	relation = {0};
	const char *nspname;
	const char *relname;
	Relation   *known;
	int			i;

	relation.relid = read_u32(r);
	nspname = read_cstring(r);
	relname = read_cstring(r);
	(void) read_u8(r);
	relation.ncolumns = read_u16(r);
	if (r->short_read)
		return fail(decoder, "relation message%s ends early", "");
	relation.outbox = strcmp(nspname, "allocation") == 0 && strcmp(relname, "events") == 0;
	relation.column_id = relation.column_event = relation.column_payload = relation.column_occurred_at = -1;
	for (i = 0; i < relation.ncolumns; i++)
	{
		const char *name;

		(void) read_u8(r);
		name = read_cstring(r);
		(void) read_u32(r);
		(void) read_u32(r);
		if (r->short_read)
			return fail(decoder, "relation message%s ends early", "");
		if (strcmp(name, "id") == 0)
			relation.column_id = i;
		else if (strcmp(name, "event") == 0)
			relation.column_event = i;
		else if (strcmp(name, "payload") == 0)
			relation.column_payload = i;
		else if (strcmp(name, "occurred_at") == 0)
			relation.column_occurred_at = i;
	}
	if (relation.outbox && (relation.column_id < 0 || relation.column_event < 0 ||
							relation.column_payload < 0 || relation.column_occurred_at < 0))
		return fail(decoder, "allocation.events%s lacks a column of the outbox", "");

	known = find_relation(decoder, relation.relid);
	if (known == NULL)
	{
		decoder->relations = xrealloc(decoder->relations,
									  sizeof(Relation) * (size_t) (decoder->nrelations + 1));
		known = &decoder->relations[decoder->nrelations++];
	}
	*known = relation;
	return DECODED_NOTHING;
}

/*
 * decode_insert: 'I': relid, 'N', the new tuple: its columns, each 'n'
 * (null), 'u' (unchanged TOAST, never in an insert) or 't' (length, text).
 * Appends the event to the current transaction.
 */
static DecodeResult
decode_insert(Decoder *decoder, Reader *r)
{
	uint32_t	relid = read_u32(r);
	Relation   *relation = find_relation(decoder, relid);
	char	   *values[4] = {NULL, NULL, NULL, NULL};
	OutboxEvent *event;
	int			ncolumns;
	int			i;

	if (read_u8(r) != 'N' || r->short_read)
		return fail(decoder, "insert message%s without a new tuple", "");
	if (relation == NULL)
		return fail(decoder, "insert into a relation%s the stream did not describe", "");
	if (!decoder->in_transaction)
		return fail(decoder, "insert%s outside a transaction", "");
	ncolumns = read_u16(r);
	for (i = 0; i < ncolumns; i++)
	{
		uint8_t		kind = read_u8(r);
		uint32_t	len;
		int			slot = -1;

		if (kind == 'n' || kind == 'u')
			continue;
		if (kind != 't')
			goto bad_column;
		len = read_u32(r);
		if (r->short_read || !need(r, len))
			goto short_tuple;
		if (relation->outbox)
		{
			slot = i == relation->column_id ? 0 : i == relation->column_event ? 1 :
				i == relation->column_payload ? 2 : i == relation->column_occurred_at ? 3 : -1;
		}
		if (slot >= 0)
		{
			values[slot] = xmalloc(len + 1);
			memcpy(values[slot], r->p, len);
			values[slot][len] = '\0';
		}
		r->p += len;
	}
	if (r->short_read)
		goto short_tuple;
	if (!relation->outbox)
		return DECODED_NOTHING;
	for (i = 0; i < 4; i++)
	{
		if (values[i] == NULL)
		{
			for (i = 0; i < 4; i++)
				free(values[i]);
			return fail(decoder, "an outbox row%s has a NULL column", "");
		}
	}

	decoder->current.events = xgrow(decoder->current.events, sizeof(OutboxEvent), decoder->current.nevents,
									&decoder->current.capacity);
	event = &decoder->current.events[decoder->current.nevents++];
	event->id = values[0];
	event->event = values[1];
	event->payload = values[2];
	event->occurred_at = xmalloc(40);
	if (!iso_utc(values[3], event->occurred_at, 40))
	{
		DecodeResult result = fail(decoder, "occurred_at \"%s\" is not an ISO timestamp in UTC", values[3]);

		free(values[3]);
		return result;
	}
	free(values[3]);
	return DECODED_NOTHING;

bad_column:
short_tuple:
	for (i = 0; i < 4; i++)
		free(values[i]);
	return fail(decoder, "insert message%s ends early or has a column of an unknown kind", "");
}

/*
 * pgoutput_decode: one message of the stream.  Returns DECODED_COMMIT with
 * the transaction in *done (the caller frees it) when it is a Commit;
 * DECODED_ERROR with decoder->error for anything malformed.
 */
DecodeResult
pgoutput_decode(Decoder *decoder, const unsigned char *message, size_t len, Transaction *done)
{
	Reader		r = {message, message + len, false};
	char		kind = (char) read_u8(&r);

	if (r.short_read)
		return fail(decoder, "empty message%s", "");
	switch (kind)
	{
		case 'B':				/* Begin: final LSN, commit time, xid */
			if (decoder->in_transaction)
				return fail(decoder, "begin%s inside a transaction", "");
			transaction_free(&decoder->current);
			decoder->current.commit_lsn = read_u64(&r);
			(void) read_u64(&r);
			(void) read_u32(&r);
			if (r.short_read)
				return fail(decoder, "begin message%s ends early", "");
			decoder->in_transaction = true;
			return DECODED_NOTHING;
		case 'C':				/* Commit: flags, commit LSN, end LSN, commit time */
			{
				Lsn			commit_lsn;

				(void) read_u8(&r);
				commit_lsn = read_u64(&r);
				decoder->current.end_lsn = read_u64(&r);
				(void) read_u64(&r);
				if (r.short_read)
					return fail(decoder, "commit message%s ends early", "");
				if (!decoder->in_transaction || commit_lsn != decoder->current.commit_lsn)
					return fail(decoder, "commit%s of a transaction that did not begin", "");
				decoder->in_transaction = false;
				*done = decoder->current;
				memset(&decoder->current, 0, sizeof(Transaction));
				return DECODED_COMMIT;
			}
		case 'R':
			return decode_relation(decoder, &r);
		case 'I':
			return decode_insert(decoder, &r);
		case 'Y':				/* Type, Origin, Message, Truncate: nothing of ours */
		case 'O':
		case 'M':
		case 'T':
			return DECODED_NOTHING;
		case 'U':
		case 'D':
			return fail(decoder, "an update or delete%s in a publication of inserts", "");
		default:
			{
				char		what[2] = {kind, '\0'};

				return fail(decoder, "unknown message type \"%s\"", what);
			}
	}
}

/*
 * iso_utc: a timestamptz as PostgreSQL writes it with DateStyle ISO and
 * TimeZone UTC ("2026-11-30 01:02:03.12+00") as ISO 8601 with microseconds
 * ("2026-11-30T01:02:03.120000Z"), the form of the payloads' timestamps.
 * False for anything else (another offset, BC, infinity).
 */
bool
iso_utc(const char *timestamp, char *out, size_t size)
{
	int			year, month, day, hour, minute, second, used = 0;
	long		micro = 0;
	const char *rest;

	if (sscanf(timestamp, "%4d-%2d-%2d %2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second,
			   &used) != 6 || used != 19)
		return false;
	rest = timestamp + used;
	if (*rest == '.')
	{
		int			digits = 0;

		rest++;
		while (*rest >= '0' && *rest <= '9' && digits < 6)
		{
			micro = micro * 10 + (*rest++ - '0');
			digits++;
		}
		if (digits == 0 || (*rest >= '0' && *rest <= '9'))
			return false;
		while (digits++ < 6)
			micro *= 10;
	}
	if (strcmp(rest, "+00") != 0)
		return false;
	return snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
					year, month, day, hour, minute, second, micro) < (int) size;
}
