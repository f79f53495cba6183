/*-------------------------------------------------------------------------
 *
 * bus/sink_redis.c
 *		The Redis sink: every event added once, in commit order, to a stream
 *		(allocation:events), and published once on its channel.
 *
 * One Lua script per batch of transactions does it all, atomically: for
 * each transaction past the position kept in the key "<stream>:position",
 * it adds one entry per event with the ID "<commit LSN>-<n>", publishes it,
 * and moves the position.  A batch sent again after a crash or a lost
 * reply finds the position past it and adds nothing; an ID at or below the
 * stream's top would be refused by Redis itself.  What is durable is what
 * Redis keeps: run it with appendonly yes and appendfsync always.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "common.h"
#include "json.h"
#include "pgoutput.h"
#include "sink.h"

/*
 * KEYS: the stream, the position key.  ARGV: a position to note (decimal,
 * "0" for none), the number of transactions, then for each its commit LSN,
 * end LSN (decimal) and number of events, then for each event its id,
 * event, payload, occurred_at, channel and message.  LSNs are compared as
 * decimal strings (length, then bytes): Lua's numbers would round them.
 */
static const char deliver_script[] =
	"local stream, poskey = KEYS[1], KEYS[2]\n"
	"local function after(a, b)\n"
	"  if #a ~= #b then return #a > #b end\n"
	"  return a > b\n"
	"end\n"
	"local pos = redis.call('GET', poskey) or '0'\n"
	"local added, i = 0, 3\n"
	"for t = 1, tonumber(ARGV[2]) do\n"
	"  local commit, finish, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])\n"
	"  i = i + 3\n"
	"  local fresh = after(finish, pos)\n"
	"  for e = 0, n - 1 do\n"
	"    if fresh then\n"
	"      redis.call('XADD', stream, commit .. '-' .. e, 'id', ARGV[i], 'event', ARGV[i + 1],\n"
	"                 'payload', ARGV[i + 2], 'occurred_at', ARGV[i + 3])\n"
	"      redis.call('PUBLISH', ARGV[i + 4], ARGV[i + 5])\n"
	"      added = added + 1\n"
	"    end\n"
	"    i = i + 6\n"
	"  end\n"
	"  if fresh then pos = finish end\n"
	"end\n"
	"if after(ARGV[1], pos) then pos = ARGV[1] end\n"
	"redis.call('SET', poskey, pos)\n"
	"return added\n";

typedef struct RedisSink
{
	RedisUrl	url;
	char	   *stream;
	char	   *position_key;
	redisContext *redis;
	char		script_sha[41];
	/* argument vector of the next call, reused */
	Buffer	   *args;
	int			nargs;
	int			capacity;
} RedisSink;

/* The book's message: {"orderid", "sku", "qty", "batchref"}, as json.dumps writes it. */
static void
book_message(const char *payload, Buffer *message)
{
	static const char *const keys[] = {"orderid", "sku", "qty", "batchref"};
	JsonObject	object;
	int			i;

	buffer_reset(message);
	if (!json_parse_object(payload, &object))
	{
		buffer_append_str(message, payload);
		return;
	}
	for (i = 0; i < 4 && json_find(&object, keys[i]) != NULL; i++)
		;
	if (i < 4)
	{
		buffer_append_str(message, payload);
		json_free(&object);
		return;
	}
	buffer_append_str(message, "{");
	for (i = 0; i < 4; i++)
	{
		const JsonField *field = json_find(&object, keys[i]);

		if (i > 0)
			buffer_append_str(message, ", ");
		json_append_string(message, keys[i]);
		buffer_append_str(message, ": ");
		if (field->is_string)
			json_append_string(message, field->value);
		else
			buffer_append_str(message, field->value);
	}
	buffer_append_str(message, "}");
	json_free(&object);
}

/*
 * event_channel: the channel an event is published on, the book's for
 * Allocated (line_allocated), the snake_case of its name for the others
 * (OutOfStock: out_of_stock).
 */
void
event_channel(const char *event, Buffer *channel)
{
	const char *p;

	buffer_reset(channel);
	if (strcmp(event, "Allocated") == 0)
	{
		buffer_append_str(channel, "line_allocated");
		return;
	}
	for (p = event; *p; p++)
	{
		char		c = *p;

		if (c >= 'A' && c <= 'Z')
		{
			if (p != event)
				buffer_append(channel, "_", 1);
			c = (char) (c - 'A' + 'a');
		}
		buffer_append(channel, &c, 1);
	}
}

/* next_arg: the next argument of the call being built, emptied. */
static Buffer *
next_arg(RedisSink *state)
{
	if (state->nargs == state->capacity)
	{
		int			i;

		state->args = xgrow(state->args, sizeof(Buffer), state->nargs, &state->capacity);
		for (i = state->nargs; i < state->capacity; i++)
			buffer_init(&state->args[i]);
	}
	buffer_reset(&state->args[state->nargs]);
	return &state->args[state->nargs++];
}

static void
disconnect(RedisSink *state)
{
	if (state->redis != NULL)
		redisFree(state->redis);
	state->redis = NULL;
}

/* call: run the built command; the reply, or NULL with *error. */
static redisReply *
call(RedisSink *state, Buffer *error)
{
	const char **argv = xmalloc(sizeof(char *) * (size_t) state->nargs);
	size_t	   *lens = xmalloc(sizeof(size_t) * (size_t) state->nargs);
	redisReply *reply;
	int			i;

	for (i = 0; i < state->nargs; i++)
	{
		argv[i] = state->args[i].data;
		lens[i] = state->args[i].len;
	}
	reply = redisCommandArgv(state->redis, state->nargs, argv, lens);
	free(argv);
	free(lens);
	if (reply == NULL)
	{
		buffer_printf(error, "%s", state->redis->errstr);
		disconnect(state);
	}
	return reply;
}

static SinkStatus
connect_redis(RedisSink *state, Buffer *error)
{
	struct timeval timeout = {5, 0};
	redisReply *reply;

	state->redis = redisConnectWithTimeout(state->url.host, state->url.port, timeout);
	if (state->redis == NULL || state->redis->err)
	{
		buffer_printf(error, "%s", state->redis ? state->redis->errstr : "cannot connect");
		disconnect(state);
		return SINK_RETRY;
	}
	redisSetTimeout(state->redis, timeout);
	reply = redisCommand(state->redis, "SELECT %d", state->url.db);
	if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
	{
		buffer_printf(error, "SELECT %d: %s", state->url.db, reply ? reply->str : state->redis->errstr);
		if (reply)
			freeReplyObject(reply);
		disconnect(state);
		return SINK_RETRY;
	}
	freeReplyObject(reply);
	reply = redisCommand(state->redis, "SCRIPT LOAD %s", deliver_script);
	if (reply == NULL || reply->type != REDIS_REPLY_STRING)
	{
		buffer_printf(error, "SCRIPT LOAD: %s", reply ? (reply->str ? reply->str : "?") : state->redis->errstr);
		if (reply)
			freeReplyObject(reply);
		disconnect(state);
		return SINK_RETRY;
	}
	snprintf(state->script_sha, sizeof(state->script_sha), "%s", reply->str);
	freeReplyObject(reply);
	return SINK_OK;
}

static SinkStatus
redis_open(Sink *sink, Lsn *position, Buffer *error)
{
	RedisSink  *state = sink->state;
	redisReply *reply;
	SinkStatus	status;

	if (state->redis == NULL && (status = connect_redis(state, error)) != SINK_OK)
		return status;
	reply = redisCommand(state->redis, "GET %s", state->position_key);
	if (reply == NULL)
	{
		buffer_printf(error, "%s", state->redis->errstr);
		disconnect(state);
		return SINK_RETRY;
	}
	*position = reply->type == REDIS_REPLY_STRING ? strtoull(reply->str, NULL, 10) : 0;
	freeReplyObject(reply);
	return SINK_OK;
}

/* run_script: EVALSHA of the built arguments (after the first three). */
static SinkStatus
run_script(RedisSink *state, Buffer *error)
{
	redisReply *reply;
	SinkStatus	status;

	if (state->redis == NULL && (status = connect_redis(state, error)) != SINK_OK)
		return status;
	buffer_reset(&state->args[0]);
	buffer_append_str(&state->args[0], "EVALSHA");
	reply = call(state, error);
	if (reply == NULL)
		return SINK_RETRY;
	if (reply->type == REDIS_REPLY_ERROR)
	{
		/* an ID refused means entries this relay did not write: stop there */
		bool		refused = strstr(reply->str, "equal or smaller") != NULL;

		buffer_printf(error, "%s", reply->str);
		freeReplyObject(reply);
		if (refused)
			return SINK_FATAL;
		disconnect(state);
		return SINK_RETRY;
	}
	freeReplyObject(reply);
	return SINK_OK;
}

/* start_call: EVALSHA sha 2 stream position-key noted-position */
static void
start_call(RedisSink *state, Lsn noted)
{
	state->nargs = 0;
	(void) next_arg(state);		/* the command, set by run_script */
	buffer_append_str(next_arg(state), state->script_sha);
	buffer_append_str(next_arg(state), "2");
	buffer_append_str(next_arg(state), state->stream);
	buffer_append_str(next_arg(state), state->position_key);
	buffer_printf(next_arg(state), "%" PRIu64, noted);
}

static SinkStatus
redis_deliver(Sink *sink, Transaction *transactions, int ntransactions, Buffer *error)
{
	RedisSink  *state = sink->state;
	Buffer		channel;
	int			t;

	buffer_init(&channel);
	start_call(state, 0);
	buffer_printf(next_arg(state), "%d", ntransactions);
	for (t = 0; t < ntransactions; t++)
	{
		Transaction *tx = &transactions[t];
		int			e;

		buffer_printf(next_arg(state), "%" PRIu64, tx->commit_lsn);
		buffer_printf(next_arg(state), "%" PRIu64, tx->end_lsn);
		buffer_printf(next_arg(state), "%d", tx->nevents);
		for (e = 0; e < tx->nevents; e++)
		{
			OutboxEvent *event = &tx->events[e];

			buffer_append_str(next_arg(state), event->id);
			buffer_append_str(next_arg(state), event->event);
			buffer_append_str(next_arg(state), event->payload);
			buffer_append_str(next_arg(state), event->occurred_at);
			event_channel(event->event, &channel);
			buffer_append_str(next_arg(state), channel.data);
			if (strcmp(event->event, "Allocated") == 0)
				book_message(event->payload, next_arg(state));
			else
				buffer_append_str(next_arg(state), event->payload);
		}
	}
	buffer_free(&channel);
	return run_script(state, error);
}

static SinkStatus
redis_note(Sink *sink, Lsn position, Buffer *error)
{
	RedisSink  *state = sink->state;

	start_call(state, position);
	buffer_append_str(next_arg(state), "0");
	return run_script(state, error);
}

static void
redis_close(Sink *sink)
{
	disconnect(sink->state);
}

static void
redis_destroy(Sink *sink)
{
	RedisSink  *state = sink->state;
	int			i;

	for (i = 0; i < state->capacity; i++)
		buffer_free(&state->args[i]);
	free(state->args);
	free(state->url.host);
	free(state->stream);
	free(state->position_key);
	free(state);
	free(sink);
}

/*
 * redis_sink: the Redis sink for redis://HOST:PORT[/DB] and a stream key;
 * fatal for a URL that is not one.
 */
Sink *
redis_sink(const char *url, const char *stream)
{
	Sink	   *sink = xmalloc(sizeof(Sink));
	RedisSink  *state = xmalloc(sizeof(RedisSink));
	Buffer		key;

	memset(state, 0, sizeof(RedisSink));
	if (!redis_url_parse(url, &state->url))
		fatal("--redis \"%s\" is not a Redis URL: expected redis://HOST:PORT[/DB]", url);
	state->stream = xstrdup(stream);
	buffer_init(&key);
	buffer_printf(&key, "%s:position", stream);
	state->position_key = key.data;
	sink->what = "Redis";
	sink->knows_position = true;
	sink->open = redis_open;
	sink->deliver = redis_deliver;
	sink->note = redis_note;
	sink->close = redis_close;
	sink->destroy = redis_destroy;
	sink->state = state;
	return sink;
}
