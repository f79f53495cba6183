/*-------------------------------------------------------------------------
 *
 * bus/sink_file.c
 *		The file sink: one JSON line per event, {"id", "event", "payload",
 *		"occurred_at"}, appended in commit order, each exactly once.
 *
 * FILE.state records, atomically (written, synced, renamed, the folder
 * synced), the position the file has reached and the file's size there;
 * a batch is appended and synced before the state moves, and the state
 * before the relay acknowledges.  At start, a tail past the recorded size
 * was never acknowledged and is cut (the server sends it again).  The
 * relay holds an exclusive lock on FILE itself (never renamed) for as long
 * as it runs: a second relay on the same file is refused.  A state file
 * that is missing beside a file that is not empty, or that does not parse,
 * or that says the file is longer than it is, is refused with an error:
 * the relay never guesses what was delivered, and never truncates on a
 * guess.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "json.h"
#include "pgoutput.h"
#include "sink.h"

typedef struct FileSink
{
	char	   *path;
	char	   *state_path;
	int			fd;				/* FILE, locked */
	Lsn			position;
	off_t		size;
	Buffer		lines;
} FileSink;

/* fsync_dir: sync the folder holding path, so that a rename in it lasts. */
static bool
fsync_dir(const char *path)
{
	char	   *copy = xstrdup(path);
	int			fd = open(dirname(copy), O_RDONLY);
	bool		ok = fd >= 0 && fsync(fd) == 0;

	if (fd >= 0)
		close(fd);
	free(copy);
	return ok;
}

/* write_state: record position and size, atomically and durably. */
static SinkStatus
write_state(FileSink *state, Lsn position, off_t size, Buffer *error)
{
	Buffer		text;
	Buffer		temporary;
	char		lsn[32];
	int			fd;
	bool		ok;

	lsn_format(position, lsn, sizeof(lsn));
	buffer_init(&text);
	buffer_printf(&text, "{\"lsn\": \"%s\", \"size\": %lld}\n", lsn, (long long) size);
	buffer_init(&temporary);
	buffer_printf(&temporary, "%s.new", state->state_path);
	fd = open(temporary.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok = fd >= 0 && write(fd, text.data, text.len) == (ssize_t) text.len && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	ok = ok && rename(temporary.data, state->state_path) == 0 && fsync_dir(state->state_path);
	if (!ok)
		buffer_printf(error, "could not write %s: %s", state->state_path, strerror(errno));
	buffer_free(&text);
	buffer_free(&temporary);
	if (!ok)
		return SINK_RETRY;
	state->position = position;
	state->size = size;
	return SINK_OK;
}

/*
 * read_state: the recorded position and size; SINK_FATAL with why when
 * the state cannot be trusted.
 */
static SinkStatus
read_state(FileSink *state, Buffer *error)
{
	FILE	   *f = fopen(state->state_path, "r");
	char		text[256];
	size_t		len;
	JsonObject	object;
	const JsonField *lsn;
	const JsonField *size;
	char	   *end;
	bool		ok;

	if (f == NULL)
	{
		buffer_printf(error, "cannot read %s: %s", state->state_path, strerror(errno));
		return SINK_FATAL;
	}
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	if (!json_parse_object(text, &object) || (lsn = json_find(&object, "lsn")) == NULL ||
		(size = json_find(&object, "size")) == NULL || !lsn->is_string ||
		!lsn_parse(lsn->value, &state->position) || size->is_string)
	{
		buffer_printf(error, "%s is damaged (\"%s\"): refusing to guess what %s holds",
					  state->state_path, text, state->path);
		json_free(&object);
		return SINK_FATAL;
	}
	errno = 0;
	state->size = (off_t) strtoll(size->value, &end, 10);
	ok = errno == 0 && *end == '\0' && state->size >= 0;
	json_free(&object);			/* end points into it */
	if (!ok)
	{
		buffer_printf(error, "%s is damaged: bad size", state->state_path);
		return SINK_FATAL;
	}
	return SINK_OK;
}

static SinkStatus
file_open(Sink *sink, Lsn *position, Buffer *error)
{
	FileSink   *state = sink->state;
	struct stat file;
	bool		has_state;

	if (state->fd < 0)
	{
		state->fd = open(state->path, O_RDWR | O_CREAT | O_APPEND, 0644);
		if (state->fd < 0)
		{
			buffer_printf(error, "cannot open %s: %s", state->path, strerror(errno));
			return SINK_FATAL;
		}
		if (flock(state->fd, LOCK_EX | LOCK_NB) != 0)
		{
			buffer_printf(error, "%s is being written by another relay (it holds the file's lock)", state->path);
			close(state->fd);
			state->fd = -1;
			return SINK_FATAL;
		}
	}
	if (fstat(state->fd, &file) != 0)
	{
		buffer_printf(error, "cannot stat %s: %s", state->path, strerror(errno));
		return SINK_FATAL;
	}
	has_state = access(state->state_path, F_OK) == 0;
	if (!has_state)
	{
		if (file.st_size > 0)
		{
			buffer_printf(error, "%s has %lld bytes but its state %s is missing: refusing to guess what was delivered "
						  "(restore the state, or move the file away to start afresh)",
						  state->path, (long long) file.st_size, state->state_path);
			return SINK_FATAL;
		}
		if (write_state(state, 0, 0, error) != SINK_OK)
			return SINK_FATAL;
	}
	else if (read_state(state, error) != SINK_OK)
		return SINK_FATAL;
	if (file.st_size < state->size)
	{
		buffer_printf(error, "%s has %lld bytes, fewer than the %lld its state %s records",
					  state->path, (long long) file.st_size, (long long) state->size, state->state_path);
		return SINK_FATAL;
	}
	if (file.st_size > state->size)
	{
		/* written but never acknowledged: the server sends it again */
		log_info("cutting %s back to the %lld bytes its state records (%lld were never acknowledged)",
				 state->path, (long long) state->size, (long long) (file.st_size - state->size));
		if (ftruncate(state->fd, state->size) != 0 || fsync(state->fd) != 0)
		{
			buffer_printf(error, "cannot cut %s back: %s", state->path, strerror(errno));
			return SINK_FATAL;
		}
	}
	*position = state->position;
	return SINK_OK;
}

static SinkStatus
file_deliver(Sink *sink, Transaction *transactions, int ntransactions, Buffer *error)
{
	FileSink   *state = sink->state;
	Lsn			position = state->position;
	int			t;

	buffer_reset(&state->lines);
	for (t = 0; t < ntransactions; t++)
	{
		int			e;

		if (transactions[t].end_lsn <= state->position)
			continue;
		for (e = 0; e < transactions[t].nevents; e++)
		{
			OutboxEvent *event = &transactions[t].events[e];

			buffer_printf(&state->lines, "{\"id\": %s, \"event\": ", event->id);
			json_append_string(&state->lines, event->event);
			buffer_printf(&state->lines, ", \"payload\": %s, \"occurred_at\": \"%s\"}\n",
						  event->payload, event->occurred_at);
		}
		position = transactions[t].end_lsn;
	}
	if (position == state->position)
		return SINK_OK;
	if (write(state->fd, state->lines.data, state->lines.len) != (ssize_t) state->lines.len ||
		fdatasync(state->fd) != 0)
	{
		buffer_printf(error, "cannot append to %s: %s", state->path, strerror(errno));
		/* what was appended is cut at the next open */
		return SINK_RETRY;
	}
	return write_state(state, position, state->size + (off_t) state->lines.len, error);
}

static SinkStatus
file_note(Sink *sink, Lsn position, Buffer *error)
{
	FileSink   *state = sink->state;

	if (position <= state->position)
		return SINK_OK;
	return write_state(state, position, state->size, error);
}

static void
file_close(Sink *sink)
{
	(void) sink;				/* the lock stays while the process runs */
}

static void
file_destroy(Sink *sink)
{
	FileSink   *state = sink->state;

	if (state->fd >= 0)
		close(state->fd);		/* and with it the lock */
	free(state->path);
	free(state->state_path);
	buffer_free(&state->lines);
	free(state);
	free(sink);
}

Sink *
file_sink(const char *path)
{
	Sink	   *sink = xmalloc(sizeof(Sink));
	FileSink   *state = xmalloc(sizeof(FileSink));
	Buffer		state_path;

	memset(state, 0, sizeof(FileSink));
	state->path = xstrdup(path);
	buffer_init(&state_path);
	buffer_printf(&state_path, "%s.state", path);
	state->state_path = state_path.data;
	state->fd = -1;
	buffer_init(&state->lines);
	sink->what = "the file";
	sink->knows_position = true;
	sink->open = file_open;
	sink->deliver = file_deliver;
	sink->note = file_note;
	sink->close = file_close;
	sink->destroy = file_destroy;
	sink->state = state;
	return sink;
}
