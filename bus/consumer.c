/*-------------------------------------------------------------------------
 *
 * bus/consumer.c
 *		allocation-consumer: commands from Redis applied to allocation,
 *		each exactly once.
 *
 * Two inputs.  The book's: messages {"batchref", "qty"} on the pub/sub
 * channel change_batch_quantity, each run as change_batch_quantity as it
 * arrives (pub/sub keeps nothing for a consumer that is down: the book's
 * epilogue).  The durable one: the stream allocation:commands, read through
 * the consumer group allocation (both made when missing), entries
 * {command, payload}.  Each entry is applied by allocation.apply_command
 * under its stream and ID, whose inbox answers an entry applied before
 * with the same outcome and runs nothing; then one Lua script acknowledges
 * the entry and, only if that acknowledgement was the first, adds its one
 * result {request, status, sqlstate, message, result} to
 * allocation:results.  Killed at any moment, the consumer finds its own
 * pending entries at restart (and takes over those another consumer left
 * idle); the inbox and the script make every entry applied once and
 * answered once.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "common.h"
#include "json.h"

#define BATCH_ENTRIES 200
#define READ_BLOCK_MS 100
#define TAKE_OVER_IDLE_MS 30000

typedef struct Options
{
	const char *dsn;
	const char *redis;
	const char *stream;
	const char *results;
	const char *group;
	const char *consumer;
	const char *channel;
} Options;

/* One entry read from the command stream. */
typedef struct Entry
{
	char	   *id;
	char	   *command;		/* NULL when the entry has none */
	char	   *payload;
	/* the outcome */
	char	   *status;
	char	   *sqlstate;
	char	   *message;
	char	   *result;
} Entry;

typedef struct Consumer
{
	Options		options;
	RedisUrl	url;
	redisContext *redis;		/* commands, acknowledgements, results */
	redisContext *subscriber;	/* the pub/sub channel */
	PGconn	   *postgres;
	Backoff		postgres_backoff;
	Backoff		redis_backoff;
	char		script_sha[41];
	Buffer		error;
} Consumer;

/*
 * KEYS: the command stream, the results stream.  ARGV: the group, then
 * for each entry its ID, status, sqlstate, message and result.  An entry
 * is answered only by the call that acknowledged it.
 */
static const char answer_script[] =
	"local answered = 0\n"
	"for i = 2, #ARGV, 5 do\n"
	"  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then\n"
	"    redis.call('XADD', KEYS[2], '*', 'request', ARGV[i], 'status', ARGV[i + 1],\n"
	"               'sqlstate', ARGV[i + 2], 'message', ARGV[i + 3], 'result', ARGV[i + 4])\n"
	"    answered = answered + 1\n"
	"  end\n"
	"end\n"
	"return answered\n";

/* Applies a batch: requests, commands and payloads in a JSON array. */
static const char apply_sql[] =
	"SELECT r.status, COALESCE(r.sqlstate, ''), COALESCE(r.message, ''), COALESCE(r.result::text, '{}')\n"
	"FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) WITH ORDINALITY AS e (c, n),\n"
	"     allocation.apply_command(e.c OPERATOR(pg_catalog.->>) 'r', e.c OPERATOR(pg_catalog.->>) 'c',\n"
	"                              e.c OPERATOR(pg_catalog.->>) 'p') AS r\n"
	"ORDER BY e.n";

/* The book's command on its channel. */
static const char change_sql[] =
	"SELECT allocation.change_batch_quantity(c.p OPERATOR(pg_catalog.->>) 'batchref',\n"
	"           (c.p OPERATOR(pg_catalog.->>) 'qty')::pg_catalog.int4)\n"
	"FROM (SELECT $1::pg_catalog.jsonb) AS c (p)";

static bool take_messages(Consumer *consumer);

static void
usage(void)
{
	printf("%s applies commands from Redis to allocation, each exactly once.\n\n"
		   "Usage:\n"
		   "  %s --dsn DSN --redis redis://HOST:PORT[/DB] [options]\n\n"
		   "Options:\n"
		   "  --dsn DSN          PostgreSQL connection string (a role that may execute\n"
		   "                     allocation.apply_command and allocation.change_batch_quantity)\n"
		   "  --redis URL        the Redis server\n"
		   "  --stream KEY       the command stream (default allocation:commands)\n"
		   "  --results KEY      the results stream (default allocation:results)\n"
		   "  --group NAME       the consumer group (default allocation)\n"
		   "  --consumer NAME    this consumer in the group (default allocation-consumer);\n"
		   "                     keep it across restarts to take up its pending entries\n"
		   "  --channel NAME     the book's pub/sub channel (default change_batch_quantity)\n"
		   "  --help             show this help, then exit\n\n"
		   "Stops cleanly on SIGTERM.  Exit status 1: bad options.\n", progname, progname);
}

static Options
parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dsn", required_argument, NULL, 'd'},
		{"redis", required_argument, NULL, 'r'},
		{"stream", required_argument, NULL, 's'},
		{"results", required_argument, NULL, 'o'},
		{"group", required_argument, NULL, 'g'},
		{"consumer", required_argument, NULL, 'c'},
		{"channel", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	Options		options = {NULL, NULL, "allocation:commands", "allocation:results", "allocation",
	"allocation-consumer", "change_batch_quantity"};
	int			c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				options.dsn = optarg;
				break;
			case 'r':
				options.redis = optarg;
				break;
			case 's':
				options.stream = optarg;
				break;
			case 'o':
				options.results = optarg;
				break;
			case 'g':
				options.group = optarg;
				break;
			case 'c':
				options.consumer = optarg;
				break;
			case 'p':
				options.channel = optarg;
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
	if (options.dsn == NULL || options.redis == NULL)
		fatal("--dsn and --redis are required (see --help)");
	if (!options.stream[0] || !options.results[0] || !options.group[0] || !options.consumer[0] || !options.channel[0])
		fatal("--stream, --results, --group, --consumer and --channel must not be empty");
	return options;
}

/* -- connections ---------------------------------------------------------- */

static void
drop_redis(Consumer *consumer)
{
	if (consumer->redis)
		redisFree(consumer->redis);
	if (consumer->subscriber)
		redisFree(consumer->subscriber);
	consumer->redis = consumer->subscriber = NULL;
}

/*
 * redis_failed: a call on one of the consumer's connections failed (no
 * reply, or not the one wanted): say why in consumer->error, free the
 * reply, and drop both connections, to be made again after a pause.
 */
static void
redis_failed(Consumer *consumer, redisContext *redis, const char *what, redisReply *reply)
{
	buffer_printf(&consumer->error, "%s: %s", what,
				  reply == NULL ? redis->errstr :
				  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
	if (reply)
		freeReplyObject(reply);
	drop_redis(consumer);
}

static redisContext *
connect_one(Consumer *consumer)
{
	struct timeval timeout = {5, 0};
	redisContext *redis = redisConnectWithTimeout(consumer->url.host, consumer->url.port, timeout);
	redisReply *reply;

	if (redis == NULL || redis->err)
	{
		buffer_printf(&consumer->error, "%s", redis ? redis->errstr : "cannot connect");
		if (redis)
			redisFree(redis);
		return NULL;
	}
	redisSetTimeout(redis, timeout);
	reply = redisCommand(redis, "SELECT %d", consumer->url.db);
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
	{
		buffer_printf(&consumer->error, "SELECT: %s", reply ? reply->str : redis->errstr);
		if (reply)
			freeReplyObject(reply);
		redisFree(redis);
		return NULL;
	}
	freeReplyObject(reply);
	return redis;
}

/*
 * connect_redis: the command connection (the group made when missing, at
 * the start of the stream, so no command already in it is left out; the
 * answering script loaded) and the subscription.  False for an outage.
 */
static bool
connect_redis(Consumer *consumer)
{
	redisReply *reply;

	if (consumer->redis && consumer->subscriber)
		return true;
	drop_redis(consumer);
	if ((consumer->redis = connect_one(consumer)) == NULL ||
		(consumer->subscriber = connect_one(consumer)) == NULL)
	{
		drop_redis(consumer);
		return false;
	}
	reply = redisCommand(consumer->redis, "XGROUP CREATE %s %s 0 MKSTREAM", consumer->options.stream,
						 consumer->options.group);
	if (reply == NULL || (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0))
	{
		redis_failed(consumer, consumer->redis, "XGROUP CREATE", reply);
		return false;
	}
	freeReplyObject(reply);
	reply = redisCommand(consumer->redis, "SCRIPT LOAD %s", answer_script);
	if (reply == NULL || reply->type != REDIS_REPLY_STRING)
	{
		redis_failed(consumer, consumer->redis, "SCRIPT LOAD", reply);
		return false;
	}
	snprintf(consumer->script_sha, sizeof(consumer->script_sha), "%s", reply->str);
	freeReplyObject(reply);
	reply = redisCommand(consumer->subscriber, "SUBSCRIBE %s", consumer->options.channel);
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
	{
		redis_failed(consumer, consumer->subscriber, "SUBSCRIBE", reply);
		return false;
	}
	freeReplyObject(reply);
	log_info("reading %s as %s of group %s, listening on %s", consumer->options.stream,
			 consumer->options.consumer, consumer->options.group, consumer->options.channel);
	return true;
}

static bool
connect_postgres(Consumer *consumer)
{
	if (consumer->postgres && PQstatus(consumer->postgres) == CONNECTION_OK)
		return true;
	PQfinish(consumer->postgres);
	consumer->postgres = PQconnectdb(consumer->options.dsn);
	if (PQstatus(consumer->postgres) != CONNECTION_OK)
	{
		buffer_printf(&consumer->error, "%s", PQerrorMessage(consumer->postgres));
		PQfinish(consumer->postgres);
		consumer->postgres = NULL;
		return false;
	}
	return true;
}

/* -- commands ------------------------------------------------------------- */

static void
entries_free(Entry *entries, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		free(entries[i].id);
		free(entries[i].command);
		free(entries[i].payload);
		free(entries[i].status);
		free(entries[i].sqlstate);
		free(entries[i].message);
		free(entries[i].result);
	}
	free(entries);
}

/* valid_text: UTF-8 without NUL, so that it can travel in JSON to PostgreSQL. */
static bool
valid_text(const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		size_t		n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		size_t		k;

		if (c == 0 || n == 0 || i + n > len || (n == 2 && c < 0xC2))
			return false;
		for (k = 1; k < n; k++)
		{
			if (((unsigned char) s[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += n;
	}
	return true;
}

/*
 * read_entries: the entries of an XREADGROUP or XAUTOCLAIM reply; a field
 * that is not text a command could carry is answered at once with 22021.
 */
static Entry *
read_entries(redisReply *list, int *n)
{
	Entry	   *entries = xmalloc(sizeof(Entry) * (list->elements + 1));
	size_t		i;

	*n = 0;
	for (i = 0; i < list->elements; i++)
	{
		redisReply *entry = list->element[i];
		Entry	   *e;
		size_t		f;

		if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[0]->type != REDIS_REPLY_STRING)
			continue;
		e = &entries[(*n)++];
		memset(e, 0, sizeof(Entry));
		e->id = xstrdup(entry->element[0]->str);
		if (entry->element[1]->type != REDIS_REPLY_ARRAY)
			continue;			/* deleted meanwhile: no fields, an error result */
		for (f = 0; f + 1 < entry->element[1]->elements; f += 2)
		{
			redisReply *key = entry->element[1]->element[f];
			redisReply *value = entry->element[1]->element[f + 1];
			char	  **slot = NULL;

			if (strcmp(key->str, "command") == 0)
				slot = &e->command;
			else if (strcmp(key->str, "payload") == 0)
				slot = &e->payload;
			if (slot == NULL || *slot != NULL)
				continue;
			if (!valid_text(value->str, value->len))
			{
				e->status = xstrdup("error");
				e->sqlstate = xstrdup("22021");
				e->message = xstrdup(slot == &e->command ? "field command is not valid UTF-8 text"
									 : "field payload is not valid UTF-8 text");
				e->result = xstrdup("{}");
				continue;
			}
			*slot = xstrdup(value->str);
		}
	}
	return entries;
}

/*
 * apply: run the entries that have no outcome yet through apply_command,
 * in one transaction.  False when PostgreSQL failed: nothing is answered,
 * and the entries stay pending to be read again.
 */
static bool
apply(Consumer *consumer, Entry *entries, int n)
{
	Buffer		batch;
	PGresult   *result;
	const char *params[1];
	int			row = 0;
	int			i;
	bool		any = false;

	buffer_init(&batch);
	buffer_append_str(&batch, "[");
	for (i = 0; i < n; i++)
	{
		Buffer		request;

		if (entries[i].status != NULL)
			continue;
		buffer_init(&request);
		buffer_printf(&request, "%s/%s", consumer->options.stream, entries[i].id);
		buffer_append_str(&batch, any ? ", {\"r\": " : "{\"r\": ");
		json_append_string(&batch, request.data);
		buffer_free(&request);
		buffer_append_str(&batch, ", \"c\": ");
		if (entries[i].command)
			json_append_string(&batch, entries[i].command);
		else
			buffer_append_str(&batch, "null");
		buffer_append_str(&batch, ", \"p\": ");
		if (entries[i].payload)
			json_append_string(&batch, entries[i].payload);
		else
			buffer_append_str(&batch, "null");
		buffer_append_str(&batch, "}");
		any = true;
	}
	buffer_append_str(&batch, "]");
	if (!any)
	{
		buffer_free(&batch);
		return true;
	}
	params[0] = batch.data;
	result = PQexecParams(consumer->postgres, apply_sql, 1, NULL, params, NULL, NULL, 0);
	buffer_free(&batch);
	if (PQresultStatus(result) != PGRES_TUPLES_OK)
	{
		buffer_printf(&consumer->error, "%s", PQerrorMessage(consumer->postgres));
		PQclear(result);
		return false;
	}
	for (i = 0; i < n; i++)
	{
		if (entries[i].status != NULL)
			continue;
		entries[i].status = xstrdup(PQgetvalue(result, row, 0));
		entries[i].sqlstate = xstrdup(PQgetvalue(result, row, 1));
		entries[i].message = xstrdup(PQgetvalue(result, row, 2));
		entries[i].result = xstrdup(PQgetvalue(result, row, 3));
		row++;
	}
	PQclear(result);
	return true;
}

/* answer: acknowledge the entries and add their results (answer_script). */
static bool
answer(Consumer *consumer, Entry *entries, int n)
{
	const char **argv = xmalloc(sizeof(char *) * (size_t) (6 + 5 * n));
	int			argc = 0;
	redisReply *reply;
	int			i;

	argv[argc++] = "EVALSHA";
	argv[argc++] = consumer->script_sha;
	argv[argc++] = "2";
	argv[argc++] = consumer->options.stream;
	argv[argc++] = consumer->options.results;
	argv[argc++] = consumer->options.group;
	for (i = 0; i < n; i++)
	{
		argv[argc++] = entries[i].id;
		argv[argc++] = entries[i].status;
		argv[argc++] = entries[i].sqlstate;
		argv[argc++] = entries[i].message;
		argv[argc++] = entries[i].result;
	}
	reply = redisCommandArgv(consumer->redis, argc, argv, NULL);
	free(argv);
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
	{
		redis_failed(consumer, consumer->redis, "answering", reply);
		return false;
	}
	freeReplyObject(reply);
	return true;
}

/*
 * read_new: new entries, waiting for them up to READ_BLOCK_MS.  While Redis
 * holds the XREADGROUP ... BLOCK, the book's channel is served as messages
 * come, so that a change_batch_quantity never waits for the stream.  NULL
 * for a failure (consumer->error says what; the connections are dropped),
 * or when a stop was requested.
 */
static redisReply *
read_new(Consumer *consumer)
{
	redisContext *redis = consumer->redis;
	void	   *reply = NULL;
	int			written = 0;

	if (redisAppendCommand(redis, "XREADGROUP GROUP %s %s COUNT %d BLOCK %d STREAMS %s >",
						   consumer->options.group, consumer->options.consumer, BATCH_ENTRIES,
						   READ_BLOCK_MS, consumer->options.stream) != REDIS_OK)
		goto failed;
	while (!written)
	{
		if (redisBufferWrite(redis, &written) != REDIS_OK)
			goto failed;
	}
	for (;;)
	{
		struct pollfd fds[2] = {{redis->fd, POLLIN, 0}, {consumer->subscriber->fd, POLLIN, 0}};
		int			ready;

		if (redisGetReplyFromReader(redis, &reply) != REDIS_OK)
			goto failed;
		if (reply != NULL)
			return reply;
		ready = poll(fds, 2, READ_BLOCK_MS + 5000);
		if (stop_requested)
			return NULL;
		if (ready == 0)
		{
			buffer_printf(&consumer->error, "no answer to XREADGROUP");
			drop_redis(consumer);
			return NULL;
		}
		if (ready < 0)
			continue;			/* a signal */
		if (fds[1].revents != 0 && !take_messages(consumer))
			return NULL;		/* the connections are dropped */
		if (fds[0].revents != 0 && redisBufferRead(redis) != REDIS_OK)
			goto failed;
	}
failed:
	redis_failed(consumer, redis, "reading new entries", NULL);
	return NULL;
}

/*
 * read_commands: a batch of entries: this consumer's own pending ones first
 * (a restart), then those another consumer left idle, then new ones
 * (waiting briefly).  NULL and *outage when Redis failed.
 */
static redisReply *
read_commands(Consumer *consumer, bool *outage, redisReply **list)
{
	static const char *const reads[] = {"reading pending entries", "reading idle entries",
	"reading new entries"};
	int			r;

	*outage = false;
	for (r = 0; r < 3; r++)
	{
		redisReply *reply;

		if (r == 0)
			reply = redisCommand(consumer->redis, "XREADGROUP GROUP %s %s COUNT %d STREAMS %s 0",
								 consumer->options.group, consumer->options.consumer, BATCH_ENTRIES,
								 consumer->options.stream);
		else if (r == 1)
			reply = redisCommand(consumer->redis, "XAUTOCLAIM %s %s %s %d 0-0 COUNT %d",
								 consumer->options.stream, consumer->options.group, consumer->options.consumer,
								 TAKE_OVER_IDLE_MS, BATCH_ENTRIES);
		else
		{
			reply = read_new(consumer);
			if (reply == NULL)
			{
				*outage = !stop_requested;
				return NULL;
			}
		}
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
		{
			redis_failed(consumer, consumer->redis, reads[r], reply);
			*outage = true;
			return NULL;
		}
		/* XREADGROUP: [[stream, entries]]; XAUTOCLAIM: [next, entries, ...] */
		if (r == 1 && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
			reply->element[1]->elements > 0)
		{
			*list = reply->element[1];
			log_info("taking over %zu entries another consumer left idle", (*list)->elements);
			return reply;
		}
		if (r != 1 && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
			reply->element[0]->elements == 2 && reply->element[0]->element[1]->elements > 0)
		{
			*list = reply->element[0]->element[1];
			if (r == 0)
				log_info("taking up %zu pending entries (delivered before, not acknowledged)",
						 (*list)->elements);
			return reply;
		}
		freeReplyObject(reply);
	}
	return NULL;
}

/*
 * take_commands: read, apply and answer one batch of commands.  False when
 * Redis or PostgreSQL failed (consumer->error says which).
 */
static bool
take_commands(Consumer *consumer, bool *postgres_failed)
{
	redisReply *list = NULL;
	bool		outage;
	redisReply *reply = read_commands(consumer, &outage, &list);
	Entry	   *entries;
	int			n;
	bool		ok;

	*postgres_failed = false;
	if (reply == NULL)
		return !outage;
	entries = read_entries(list, &n);
	freeReplyObject(reply);
	if (!apply(consumer, entries, n))
	{
		*postgres_failed = true;
		entries_free(entries, n);
		return false;
	}
	ok = answer(consumer, entries, n);
	entries_free(entries, n);
	return ok;
}

/*
 * take_messages: the messages waiting on the book's channel, each run as
 * change_batch_quantity; one that fails is reported and dropped, as the
 * book's consumer drops it.  False when Redis failed.
 */
static bool
take_messages(Consumer *consumer)
{
	struct pollfd pfd = {consumer->subscriber->fd, POLLIN, 0};
	void	   *reply = NULL;

	for (;;)
	{
		redisReply *message;

		if (redisGetReplyFromReader(consumer->subscriber, &reply) != REDIS_OK)
			goto failed;
		if (reply == NULL)
		{
			int			done;

			if (poll(&pfd, 1, 0) <= 0)
				return true;
			if (redisBufferRead(consumer->subscriber) != REDIS_OK)
				goto failed;
			if (redisGetReplyFromReader(consumer->subscriber, &reply) != REDIS_OK)
				goto failed;
			done = reply == NULL;
			if (done)
				return true;
		}
		message = reply;
		if (message->type == REDIS_REPLY_ARRAY && message->elements == 3 &&
			strcmp(message->element[0]->str, "message") == 0)
		{
			const char *params[1] = {message->element[2]->str};
			PGresult   *result = PQexecParams(consumer->postgres, change_sql, 1, NULL, params, NULL, NULL, 0);

			if (PQresultStatus(result) != PGRES_TUPLES_OK)
				log_error("change_batch_quantity %s: %s", message->element[2]->str,
						  PQresultErrorMessage(result));
			PQclear(result);
		}
		freeReplyObject(message);
		reply = NULL;
	}
failed:
	buffer_printf(&consumer->error, "%s", consumer->subscriber->errstr);
	drop_redis(consumer);
	return false;
}

int
main(int argc, char **argv)
{
	Consumer	consumer;

	progname = "allocation-consumer";
	memset(&consumer, 0, sizeof(Consumer));
	consumer.options = parse_options(argc, argv);
	if (!redis_url_parse(consumer.options.redis, &consumer.url))
		fatal("--redis \"%s\" is not a Redis URL: expected redis://HOST:PORT[/DB]", consumer.options.redis);
	consumer.postgres_backoff.what = "PostgreSQL";
	consumer.redis_backoff.what = "Redis";
	buffer_init(&consumer.error);
	catch_stop_signals();

	while (!stop_requested)
	{
		bool		postgres_failed = false;

		buffer_reset(&consumer.error);
		if (!connect_postgres(&consumer))
		{
			backoff_wait(&consumer.postgres_backoff, consumer.error.data);
			continue;
		}
		backoff_reset(&consumer.postgres_backoff);
		if (!connect_redis(&consumer))
		{
			backoff_wait(&consumer.redis_backoff, consumer.error.data);
			continue;
		}
		if (!take_messages(&consumer) || !take_commands(&consumer, &postgres_failed))
		{
			if (postgres_failed)
			{
				PQfinish(consumer.postgres);
				consumer.postgres = NULL;
				backoff_wait(&consumer.postgres_backoff, consumer.error.data);
			}
			else
				backoff_wait(&consumer.redis_backoff, consumer.error.data);
			continue;
		}
		backoff_reset(&consumer.redis_backoff);
	}
	drop_redis(&consumer);
	PQfinish(consumer.postgres);
	free(consumer.url.host);
	buffer_free(&consumer.error);
	log_info("stopped");
	return 0;
}
