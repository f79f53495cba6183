/*-------------------------------------------------------------------------
 *
 * bus/sink.h
 *		Where allocation-relay delivers events: Redis, an SMTP server or a
 *		file.  A sink makes a batch of committed transactions durable, or
 *		fails and keeps nothing of it; the relay acknowledges a position to
 *		PostgreSQL only after.
 *
 * A sink's position: every transaction whose end LSN is at or before it is
 * in the sink.  One that knows its position (Redis, file) skips what the
 * server sends again after a crash, and lets the relay refuse a slot that
 * has moved past it (dropped and made again, or read by someone else).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BUS_SINK_H
#define BUS_SINK_H

#include "common.h"
#include "pgoutput.h"

typedef enum SinkStatus
{
	SINK_OK,
	SINK_RETRY,					/* an outage: try again later (error says what) */
	SINK_FATAL					/* a state the relay must not go past */
} SinkStatus;

typedef struct Sink Sink;
struct Sink
{
	const char *what;			/* for messages: "Redis", "the SMTP server", "the file" */
	bool		knows_position;
	/* connect or open; *position is where the sink is (0: empty) */
	SinkStatus	(*open) (Sink *sink, Lsn *position, Buffer *error);
	/* make the transactions durable (those at or before the position are skipped) */
	SinkStatus	(*deliver) (Sink *sink, Transaction *transactions, int ntransactions, Buffer *error);
	/* record a position reached without events (a keepalive's) */
	SinkStatus	(*note) (Sink *sink, Lsn position, Buffer *error);
	/* disconnect or close; open may be called again */
	void		(*close) (Sink *sink);
	/* free the sink and all it holds, once closed */
	void		(*destroy) (Sink *sink);
	void	   *state;
};

/* The channel an event is published on: Allocated on line_allocated, the others in snake_case. */
extern void event_channel(const char *event, Buffer *channel);

extern Sink *redis_sink(const char *url, const char *stream);
extern Sink *smtp_sink(const char *server, const char *from, const char *to, const char *slot);
extern Sink *file_sink(const char *path);

#endif							/* BUS_SINK_H */
