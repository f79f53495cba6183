/*-------------------------------------------------------------------------
 *
 * bus/relay.c
 *		allocation-relay: every committed event of allocation.events, read
 *		from a logical replication slot, delivered exactly once and in
 *		commit order to one sink (Redis, an SMTP server or a file).
 *
 * A replication client on libpq, as pg_recvlogical is: it streams the
 * publication allocation_events (pgoutput, protocol 1) from the slot that
 * allocation.stream_setup(NAME) made, decodes the outbox's inserts, and
 * hands whole transactions to the sink in batches (many transactions per
 * sink round trip and per fsync, at most a few milliseconds late).  It
 * acknowledges a position to the server only once the sink holds
 * everything before it; the server sends again what follows the last
 * acknowledged position after a crash, and a sink that knows its position
 * skips what it has.  PostgreSQL or the sink down: it waits, says so, and
 * resumes where it was.  A slot that is gone, invalidated, or ahead of the
 * sink (dropped and made again, or read by someone else) stops it with an
 * error: events may be missing, and only a person can say what to do.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common.h"
#include "pgoutput.h"
#include "sink.h"

/*
 * A batch is delivered when a linger brings nothing more, or at these
 * bounds; the stream is read a linger's worth at a time.
 */
#define BATCH_MAX_EVENTS 5000
#define BATCH_MAX_WAIT_USEC 20000
#define BATCH_LINGER_USEC 2000
/*
 * How often the relay tells the server where it is: at most every 100 ms
 * after a delivery (the slot keeps WAL a little longer, nothing else
 * waits for it), and every 10 s when nothing happens.  A position the
 * server passed without events (a keepalive's) is written to the sink at
 * most once a second: under load the server sends one after almost every
 * transaction, and each would cost the sink a durable write.
 */
#define FEEDBACK_INTERVAL_USEC INT64_C(100000)
#define STATUS_INTERVAL_USEC INT64_C(10000000)
#define NOTE_INTERVAL_USEC INT64_C(1000000)

typedef struct Options
{
	const char *dsn;
	const char *slot;
	bool		create_slot;
	const char *redis;
	const char *stream;
	const char *smtp;
	const char *mail_from;
	const char *mail_to;
	const char *file;
} Options;

/* Why a connection ended: try again, or stop the relay. */
typedef enum Outcome
{
	OUTCOME_STOP,				/* a stop was requested */
	OUTCOME_RETRY_POSTGRES,		/* PostgreSQL is down or restarting */
	OUTCOME_RETRY_SINK			/* the sink is down */
} Outcome;

typedef struct Relay
{
	Options		options;
	Sink	   *sink;
	Lsn			position;		/* the sink holds every transaction ending at or before it */
	Lsn			received;		/* the furthest the server has sent */
	Lsn			keepalive;		/* a position the server says it passed, to note */
	Lsn			reported;		/* the position the server was last told */
	int64_t		last_note;		/* when a keepalive's position was last noted */
	Transaction *batch;
	int			nbatch;
	int			batch_capacity;	/* room in batch, kept from one batch to the next */
	int			batch_events;
	int64_t		batch_started;
	int64_t		last_status;
	Buffer		error;
	Backoff		postgres_backoff;
	Backoff		sink_backoff;
} Relay;

static void
usage(void)
{
	printf("%s delivers every committed event of allocation.events exactly once, in commit order.\n\n"
		   "Usage:\n"
		   "  %s --dsn DSN --slot NAME SINK [--create-slot]\n\n"
		   "Options:\n"
		   "  --dsn DSN                 PostgreSQL connection string (a role with REPLICATION)\n"
		   "  --slot NAME               the slot allocation.stream_setup(NAME) made\n"
		   "  --create-slot             create the slot when it is missing (the publication\n"
		   "                            allocation_events must exist: allocation.stream_setup())\n"
		   "  --help                    show this help, then exit\n\n"
		   "One sink:\n"
		   "  --redis redis://HOST:PORT[/DB]\n"
		   "                            add each event to a Redis stream and publish it\n"
		   "  --stream KEY              the stream (default allocation:events)\n"
		   "  --smtp HOST:PORT --mail-from ADDR --mail-to ADDR\n"
		   "                            one e-mail per OutOfStock event\n"
		   "  --file PATH               append each event as a JSON line\n\n"
		   "Stops cleanly on SIGTERM.  Exit status 1: bad options, or a slot that lost events.\n",
		   progname, progname);
}

static Options
parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dsn", required_argument, NULL, 'd'},
		{"slot", required_argument, NULL, 's'},
		{"create-slot", no_argument, NULL, 'c'},
		{"redis", required_argument, NULL, 'r'},
		{"stream", required_argument, NULL, 'k'},
		{"smtp", required_argument, NULL, 'm'},
		{"mail-from", required_argument, NULL, 'f'},
		{"mail-to", required_argument, NULL, 't'},
		{"file", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	Options		options = {0};
	int			sinks;
	int			c;

	options.stream = "allocation:events";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				options.dsn = optarg;
				break;
			case 's':
				options.slot = optarg;
				break;
			case 'c':
				options.create_slot = true;
				break;
			case 'r':
				options.redis = optarg;
				break;
			case 'k':
				options.stream = optarg;
				break;
			case 'm':
				options.smtp = optarg;
				break;
			case 'f':
				options.mail_from = optarg;
				break;
			case 't':
				options.mail_to = optarg;
				break;
			case 'o':
				options.file = optarg;
				break;
			case 'h':
				usage();
				exit(0);
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				exit(1);
		}
	}
	if (optind < argc)
		fatal("unexpected argument \"%s\"", argv[optind]);
	if (options.dsn == NULL || options.slot == NULL)
		fatal("--dsn and --slot are required (see --help)");
	sinks = (options.redis != NULL) + (options.smtp != NULL) + (options.file != NULL);
	if (sinks != 1)
		fatal("give exactly one sink: --redis, --smtp or --file (see --help)");
	if (options.smtp != NULL && (options.mail_from == NULL || options.mail_to == NULL))
		fatal("--smtp needs --mail-from and --mail-to");
	if (options.slot[0] == '\0' || options.stream[0] == '\0')
		fatal("--slot and --stream must not be empty");
	return options;
}

/* -- PostgreSQL ----------------------------------------------------------- */

/*
 * connect_replication: a replication connection in database mode, its
 * timestamps in ISO 8601 and UTC whatever the server's defaults; NULL (and
 * relay->error) when PostgreSQL cannot be reached.
 */
static PGconn *
connect_replication(Relay *relay)
{
	const char *keys[] = {"dbname", "replication", "application_name", "options", NULL};
	const char *values[] = {relay->options.dsn, "database", "allocation-relay",
	"-c datestyle=ISO -c timezone=UTC", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, values, 1);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		buffer_printf(&relay->error, "%s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* transient: whether a failed result is PostgreSQL being down or busy. */
static bool
transient(PGconn *conn, PGresult *result)
{
	const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(conn) != CONNECTION_OK || sqlstate == NULL)
		return true;
	return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
		strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0 ||
		strcmp(sqlstate, "53300") == 0;
}

/*
 * exec_on_slot: run sql about the slot and return its result when it has
 * the status expected; NULL for an outage (the error kept in relay->error);
 * exits with "cannot <cannot> \"<slot>\"" for any other failure.
 */
static PGresult *
exec_on_slot(Relay *relay, PGconn *conn, const char *sql, ExecStatusType expected, const char *cannot)
{
	PGresult   *result = PQexec(conn, sql);

	if (PQresultStatus(result) == expected)
		return result;
	if (transient(conn, result))
	{
		buffer_printf(&relay->error, "%s", PQerrorMessage(conn));
		PQclear(result);
		return NULL;
	}
	fatal("cannot %s \"%s\": %s", cannot, relay->options.slot, PQerrorMessage(conn));
}

/*
 * check_slot: the slot exists (or is created with --create-slot), is a
 * pgoutput slot of this database, has not lost WAL, and has not moved past
 * what the sink holds.  Returns false for an outage; exits for a slot the
 * relay must not read.
 */
static bool
check_slot(Relay *relay, PGconn *conn)
{
	char	   *literal = PQescapeLiteral(conn, relay->options.slot, strlen(relay->options.slot));
	Buffer		sql;
	PGresult   *result;
	Lsn			confirmed = 0;
	char		shown[2][32];

	buffer_init(&sql);
	buffer_printf(&sql,
				  "SELECT slot_type, plugin, database = current_database(), confirmed_flush_lsn, wal_status, "
				  "       EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = 'allocation_events') "
				  "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", literal);
	PQfreemem(literal);
	result = exec_on_slot(relay, conn, sql.data, PGRES_TUPLES_OK, "read slot");
	buffer_free(&sql);
	if (result == NULL)
		return false;
	if (PQntuples(result) == 0)
	{
		char	   *identifier;
		PGresult   *created;

		PQclear(result);
		if (!relay->options.create_slot)
			fatal("replication slot \"%s\" does not exist: make it with allocation.stream_setup('%s'), "
				  "or give --create-slot", relay->options.slot, relay->options.slot);
		identifier = PQescapeIdentifier(conn, relay->options.slot, strlen(relay->options.slot));
		buffer_init(&sql);
		buffer_printf(&sql, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput", identifier);
		PQfreemem(identifier);
		created = PQexec(conn, sql.data);
		buffer_free(&sql);
		if (PQresultStatus(created) != PGRES_TUPLES_OK)
			fatal("cannot create replication slot \"%s\": %s", relay->options.slot, PQerrorMessage(conn));
		PQclear(created);
		log_info("created replication slot \"%s\"", relay->options.slot);
		return check_slot(relay, conn);
	}
	if (strcmp(PQgetvalue(result, 0, 0), "logical") != 0 || strcmp(PQgetvalue(result, 0, 1), "pgoutput") != 0 ||
		strcmp(PQgetvalue(result, 0, 2), "t") != 0)
		fatal("replication slot \"%s\" is not a pgoutput slot of this database", relay->options.slot);
	if (strcmp(PQgetvalue(result, 0, 4), "lost") == 0)
		fatal("replication slot \"%s\" was invalidated: the server removed WAL it still needed "
			  "(max_slot_wal_keep_size), so events are missing; resynchronise the sink from "
			  "allocation.events, then make a new slot", relay->options.slot);
	if (strcmp(PQgetvalue(result, 0, 5), "t") != 0)
		fatal("publication allocation_events does not exist: run allocation.stream_setup('%s')",
			  relay->options.slot);
	if (!PQgetisnull(result, 0, 3) && !lsn_parse(PQgetvalue(result, 0, 3), &confirmed))
		fatal("cannot read the slot's position \"%s\"", PQgetvalue(result, 0, 3));
	PQclear(result);

	lsn_format(confirmed, shown[0], sizeof(shown[0]));
	lsn_format(relay->position, shown[1], sizeof(shown[1]));
	if (relay->sink->knows_position && relay->position > 0 && confirmed > relay->position)
		fatal("replication slot \"%s\" has moved past what %s holds (the slot is at %s, the sink at %s): "
			  "it was dropped and made again, or another consumer read it, and the events between "
			  "are missing; resynchronise the sink from allocation.events",
			  relay->options.slot, relay->sink->what, shown[0], shown[1]);
	return true;
}

/* start_streaming: START_REPLICATION from the sink's position; false for an outage. */
static bool
start_streaming(Relay *relay, PGconn *conn)
{
	char	   *identifier = PQescapeIdentifier(conn, relay->options.slot, strlen(relay->options.slot));
	char		start[32];
	Buffer		sql;
	PGresult   *result;

	lsn_format(relay->position, start, sizeof(start));
	buffer_init(&sql);
	buffer_printf(&sql, "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', "
				  "publication_names '\"allocation_events\"')", identifier, start);
	PQfreemem(identifier);
	result = exec_on_slot(relay, conn, sql.data, PGRES_COPY_BOTH, "stream from replication slot");
	buffer_free(&sql);
	if (result == NULL)
		return false;
	PQclear(result);
	return true;
}

static void
put_u64(char *p, uint64_t v)
{
	int			i;

	for (i = 7; i >= 0; i--)
	{
		p[i] = (char) (v & 0xFF);
		v >>= 8;
	}
}

static uint64_t
get_u64(const char *p)
{
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char) p[i];
	return v;
}

/* send_status: a standby status update: received, and flushed = what the sink holds. */
static bool
send_status(Relay *relay, PGconn *conn)
{
	char		message[34];

	message[0] = 'r';
	put_u64(message + 1, relay->received);
	put_u64(message + 9, relay->position);
	put_u64(message + 17, relay->position);
	put_u64(message + 25, (uint64_t) (now_usec() - PG_EPOCH_OFFSET_USEC));
	message[33] = 0;
	relay->last_status = now_usec();
	relay->reported = relay->position;
	return PQputCopyData(conn, message, sizeof(message)) == 1 && PQflush(conn) == 0;
}

/* -- the batch ------------------------------------------------------------ */

static void
batch_clear(Relay *relay)
{
	int			i;

	for (i = 0; i < relay->nbatch; i++)
		transaction_free(&relay->batch[i]);
	relay->nbatch = 0;
	relay->batch_events = 0;
}

static void
batch_add(Relay *relay, Transaction *transaction)
{
	if (relay->nbatch == 0)
		relay->batch_started = now_usec();
	relay->batch = xgrow(relay->batch, sizeof(Transaction), relay->nbatch, &relay->batch_capacity);
	relay->batch[relay->nbatch++] = *transaction;
	relay->batch_events += transaction->nevents;
}

/* status_due: a position the server was not told, or a long silence */
static bool
status_due(Relay *relay, int64_t now)
{
	return now - relay->last_status >= (relay->position > relay->reported ? FEEDBACK_INTERVAL_USEC
										: STATUS_INTERVAL_USEC);
}

/* note_due: a keepalive's position past the sink's, not noted for a while */
static bool
note_due(Relay *relay, int64_t now)
{
	return relay->keepalive > relay->position && now - relay->last_note >= NOTE_INTERVAL_USEC;
}

/*
 * deliver: hand the batch to the sink and, once it holds it, move the
 * position (and note a keepalive's position past it, when due).  False
 * when the sink failed: the batch is dropped, and the server will send it
 * again.
 */
static bool
deliver(Relay *relay)
{
	SinkStatus	status = SINK_OK;
	Lsn			end = relay->nbatch > 0 ? relay->batch[relay->nbatch - 1].end_lsn : relay->position;
	int64_t		now = now_usec();

	buffer_reset(&relay->error);
	if (relay->nbatch > 0)
		status = relay->sink->deliver(relay->sink, relay->batch, relay->nbatch, &relay->error);
	batch_clear(relay);
	if (status == SINK_OK && relay->keepalive > end && note_due(relay, now))
	{
		status = relay->sink->note(relay->sink, relay->keepalive, &relay->error);
		end = relay->keepalive;
		relay->last_note = now;
	}
	if (status == SINK_FATAL)
		fatal("%s refused the events: %s", relay->sink->what, relay->error.data);
	if (status == SINK_RETRY)
		return false;
	if (end > relay->position)
		relay->position = end;
	backoff_reset(&relay->sink_backoff);
	return true;
}

/*
 * handle_message: one CopyData message of the stream: XLogData ('w') is
 * decoded, a commit adds its transaction to the batch (unless the sink has
 * it); a keepalive ('k') is remembered and answered when asked.
 */
static void
handle_message(Relay *relay, PGconn *conn, Decoder *decoder, const char *message, int len)
{
	if (message[0] == 'w' && len >= 25)
	{
		Transaction done;

		switch (pgoutput_decode(decoder, (const unsigned char *) message + 25, (size_t) len - 25, &done))
		{
			case DECODED_NOTHING:
				break;
			case DECODED_COMMIT:
				if (done.end_lsn > relay->received)
					relay->received = done.end_lsn;
				if (done.end_lsn <= relay->position)
					transaction_free(&done);	/* sent again after a crash: the sink has it */
				else
					batch_add(relay, &done);
				break;
			case DECODED_ERROR:
				fatal("cannot decode the stream: %s", decoder->error);
		}
	}
	else if (message[0] == 'k' && len >= 18)
	{
		Lsn			end = get_u64(message + 1);

		if (end > relay->received)
			relay->received = end;
		if (end > relay->keepalive)
			relay->keepalive = end;
		if (message[17])
			send_status(relay, conn);
	}
	else
		fatal("unexpected message \"%c\" in the replication stream", message[0]);
}

/*
 * stream: read the stream and deliver it in batches until a stop is
 * requested or something fails.
 */
static Outcome
stream(Relay *relay, PGconn *conn)
{
	Decoder		decoder;
	Outcome		outcome = OUTCOME_RETRY_POSTGRES;
	bool		lingered = false;	/* the last linger brought nothing yet */

	decoder_init(&decoder);
	relay->received = relay->position;
	relay->keepalive = 0;
	for (;;)
	{
		char	   *message = NULL;
		int			len;

		if (stop_requested)
		{
			/* deliver what is in hand, say so, and stop */
			if (deliver(relay))
				send_status(relay, conn);
			outcome = OUTCOME_STOP;
			break;
		}
		len = PQgetCopyData(conn, &message, 1);
		if (len > 0)
		{
			lingered = false;
			handle_message(relay, conn, &decoder, message, len);
			PQfreemem(message);
			if (relay->batch_events < BATCH_MAX_EVENTS &&
				(relay->nbatch == 0 || now_usec() - relay->batch_started < BATCH_MAX_WAIT_USEC))
				continue;
		}
		else if (len == 0 && relay->nbatch > 0)
		{
			/*
			 * Nothing buffered and a batch in hand: let more of the stream
			 * arrive, then read it all at once (one wake-up per linger, not
			 * one per message); deliver when a linger brought nothing or the
			 * batch is old enough.
			 */
			if (!lingered && now_usec() - relay->batch_started < BATCH_MAX_WAIT_USEC)
			{
				struct timespec pause = {0, BATCH_LINGER_USEC * 1000};

				nanosleep(&pause, NULL);
				lingered = true;
				if (PQconsumeInput(conn) == 0)
				{
					buffer_printf(&relay->error, "%s", PQerrorMessage(conn));
					break;
				}
				continue;
			}
		}
		else if (len == 0)
		{
			/* nothing in hand: wait for the stream, or until a status or note is due */
			struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
			int64_t		now = now_usec();
			int64_t		wait_usec = STATUS_INTERVAL_USEC - (now - relay->last_status);

			if (relay->position > relay->reported &&
				FEEDBACK_INTERVAL_USEC - (now - relay->last_status) < wait_usec)
				wait_usec = FEEDBACK_INTERVAL_USEC - (now - relay->last_status);
			if (relay->keepalive > relay->position &&
				NOTE_INTERVAL_USEC - (now - relay->last_note) < wait_usec)
				wait_usec = NOTE_INTERVAL_USEC - (now - relay->last_note);
			if (wait_usec > 0 && poll(&pfd, 1, (int) ((wait_usec + 999) / 1000)) > 0)
			{
				if (PQconsumeInput(conn) == 0)
				{
					buffer_printf(&relay->error, "%s", PQerrorMessage(conn));
					break;
				}
				continue;
			}
		}
		else
		{
			/* the stream ended: the server stopped, or an error */
			PGresult   *result = PQgetResult(conn);

			buffer_printf(&relay->error, "%s", PQerrorMessage(conn));
			if (result && PQresultStatus(result) == PGRES_FATAL_ERROR && !transient(conn, result))
				fatal("the server stopped the stream: %s", PQerrorMessage(conn));
			PQclear(result);
			break;
		}

		if ((relay->nbatch > 0 || note_due(relay, now_usec())) && !deliver(relay))
		{
			outcome = OUTCOME_RETRY_SINK;
			break;
		}
		if (status_due(relay, now_usec()) && !send_status(relay, conn))
			break;
	}
	batch_clear(relay);
	decoder_free(&decoder);
	return outcome;
}

/* open_sink: open the sink, waiting out its outages; false when asked to stop. */
static bool
open_sink(Relay *relay)
{
	for (;;)
	{
		SinkStatus	status;

		buffer_reset(&relay->error);
		status = relay->sink->open(relay->sink, &relay->position, &relay->error);
		if (status == SINK_OK)
		{
			backoff_reset(&relay->sink_backoff);
			return true;
		}
		if (status == SINK_FATAL)
			fatal("%s", relay->error.data);
		backoff_wait(&relay->sink_backoff, relay->error.data);
		if (stop_requested)
			return false;
	}
}

int
main(int argc, char **argv)
{
	Relay		relay;

	progname = "allocation-relay";
	memset(&relay, 0, sizeof(Relay));
	relay.options = parse_options(argc, argv);
	relay.postgres_backoff.what = "PostgreSQL";
	buffer_init(&relay.error);
	catch_stop_signals();
	if (relay.options.redis)
		relay.sink = redis_sink(relay.options.redis, relay.options.stream);
	else if (relay.options.smtp)
		relay.sink = smtp_sink(relay.options.smtp, relay.options.mail_from, relay.options.mail_to,
							   relay.options.slot);
	else
		relay.sink = file_sink(relay.options.file);
	relay.sink_backoff.what = relay.sink->what;

	while (!stop_requested)
	{
		PGconn	   *conn;
		Outcome		outcome;
		char		start[32];

		if (!open_sink(&relay))
			break;
		buffer_reset(&relay.error);
		conn = connect_replication(&relay);
		if (conn == NULL || !check_slot(&relay, conn) || !start_streaming(&relay, conn))
		{
			PQfinish(conn);
			backoff_wait(&relay.postgres_backoff, relay.error.data);
			continue;
		}
		backoff_reset(&relay.postgres_backoff);
		lsn_format(relay.position, start, sizeof(start));
		log_info("streaming slot \"%s\" from %s into %s", relay.options.slot, start, relay.sink->what);
		outcome = stream(&relay, conn);
		PQfinish(conn);
		if (outcome == OUTCOME_RETRY_SINK)
		{
			relay.sink->close(relay.sink);
			backoff_wait(&relay.sink_backoff, relay.error.data);
		}
		else if (outcome == OUTCOME_RETRY_POSTGRES && !stop_requested)
			backoff_wait(&relay.postgres_backoff, relay.error.data);
	}
	relay.sink->close(relay.sink);
	relay.sink->destroy(relay.sink);
	free(relay.batch);
	buffer_free(&relay.error);
	log_info("stopped");
	return 0;
}
