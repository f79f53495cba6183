/*-------------------------------------------------------------------------
 *
 * bus/pgoutput.h
 *		Decoding the pgoutput stream (protocol 1) of the publication
 *		allocation_events into transactions of outbox events.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BUS_PGOUTPUT_H
#define BUS_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* One row of allocation.events, its columns as pgoutput sent them (text). */
typedef struct OutboxEvent
{
	char	   *id;
	char	   *event;
	char	   *payload;		/* the jsonb's text */
	char	   *occurred_at;	/* ISO 8601 in UTC: 2026-11-30T01:02:03.123456Z */
} OutboxEvent;

/* A committed transaction and the events it wrote, in the order written. */
typedef struct Transaction
{
	Lsn			commit_lsn;		/* where its commit record is: its place in commit order */
	Lsn			end_lsn;		/* just past it: what to acknowledge */
	int			nevents;
	int			capacity;		/* room in events */
	OutboxEvent *events;
} Transaction;

/* A relation the stream described: the outbox's columns, by position. */
typedef struct Relation
{
	uint32_t	relid;
	bool		outbox;
	int			ncolumns;
	int			column_id;
	int			column_event;
	int			column_payload;
	int			column_occurred_at;
} Relation;

typedef struct Decoder
{
	Relation   *relations;
	int			nrelations;
	bool		in_transaction;
	Transaction current;
	char		error[256];		/* why pgoutput_decode returned DECODED_ERROR */
} Decoder;

typedef enum DecodeResult
{
	DECODED_NOTHING,			/* a message that ends no transaction */
	DECODED_COMMIT,				/* a transaction ended: *done holds it */
	DECODED_ERROR				/* decoder->error says why */
} DecodeResult;

extern void decoder_init(Decoder *decoder);
extern void decoder_free(Decoder *decoder);
extern DecodeResult pgoutput_decode(Decoder *decoder, const unsigned char *message, size_t len,
									Transaction *done);
extern void transaction_free(Transaction *transaction);
extern bool iso_utc(const char *timestamp, char *out, size_t size);

#endif							/* BUS_PGOUTPUT_H */
