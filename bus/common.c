/*-------------------------------------------------------------------------
 *
 * bus/common.c
 *		What allocation-relay and allocation-consumer share (common.h).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *progname = "allocation";
volatile sig_atomic_t stop_requested = 0;

static void vlog(const char *level, const char *fmt, va_list args) __attribute__((format(printf, 2, 0)));

static void
vlog(const char *level, const char *fmt, va_list args)
{
	fprintf(stderr, "%s: %s", progname, level);
	vfprintf(stderr, fmt, args);
	fputc('\n', stderr);
	fflush(stderr);
}

/* log_info: a line on stderr about what the program does. */
void
log_info(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vlog("", fmt, args);
	va_end(args);
}

/* log_error: a line on stderr about something that went wrong. */
void
log_error(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vlog("error: ", fmt, args);
	va_end(args);
}

/* fatal: an error the program cannot go on after; exits with status 1. */
void
fatal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vlog("error: ", fmt, args);
	va_end(args);
	exit(1);
}

static void
on_stop_signal(int signo)
{
	(void) signo;
	stop_requested = 1;
}

/*
 * catch_stop_signals: SIGTERM and SIGINT ask for a clean stop; a write to
 * a closed socket is an error to handle, not a reason to die.
 */
void
catch_stop_signals(void)
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	action.sa_handler = on_stop_signal;
	sigemptyset(&action.sa_mask);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * backoff_wait: wait before trying again after a failure, longer each time
 * up to 5 s, unless a stop is requested; says so on stderr once per outage
 * and again at each wait longer than a second.
 */
void
backoff_wait(Backoff *backoff, const char *why)
{
	struct timespec pause;
	int			waited;

	if (backoff->wait_ms == 0)
		backoff->wait_ms = 100;
	if (!backoff->reported || backoff->wait_ms >= 1000)
	{
		int			len = (int) strlen(why);

		/* libpq's messages end with a newline, some span lines */
		while (len > 0 && (why[len - 1] == '\n' || why[len - 1] == ' '))
			len--;
		log_error("%s unavailable (%.*s); retrying in %.1f s", backoff->what, len, why,
				  backoff->wait_ms / 1000.0);
	}
	backoff->reported = true;
	for (waited = 0; waited < backoff->wait_ms && !stop_requested; waited += 50)
	{
		pause.tv_sec = 0;
		pause.tv_nsec = 50 * 1000 * 1000;
		nanosleep(&pause, NULL);
	}
	backoff->wait_ms = backoff->wait_ms * 2 > 5000 ? 5000 : backoff->wait_ms * 2;
}

/* backoff_reset: it works again; says so if an outage was reported. */
void
backoff_reset(Backoff *backoff)
{
	if (backoff->reported)
		log_info("%s is back", backoff->what);
	backoff->wait_ms = 0;
	backoff->reported = false;
}

int64_t
now_usec(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

void
lsn_format(Lsn lsn, char *out, size_t size)
{
	snprintf(out, size, "%X/%X", (unsigned int) (lsn >> 32), (unsigned int) lsn);
}

bool
lsn_parse(const char *text, Lsn *lsn)
{
	unsigned int high;
	unsigned int low;
	int			used;

	if (sscanf(text, "%X/%X%n", &high, &low, &used) != 2 || text[used] != '\0')
		return false;
	*lsn = ((Lsn) high << 32) | low;
	return true;
}

void *
xmalloc(size_t size)
{
	void	   *ptr = malloc(size);

	if (ptr == NULL)
		fatal("out of memory");
	return ptr;
}

void *
xrealloc(void *ptr, size_t size)
{
	ptr = realloc(ptr, size);
	if (ptr == NULL)
		fatal("out of memory");
	return ptr;
}

/*
 * xgrow: array, holding n elements of elem_size bytes with room for
 * *capacity, with room for one more: the room doubles when it is full, so
 * that appending n elements costs O(n), not a reallocation each.
 */
void *
xgrow(void *array, size_t elem_size, int n, int *capacity)
{
	if (n < *capacity)
		return array;
	*capacity = *capacity > 0 ? *capacity * 2 : 16;
	return xrealloc(array, elem_size * (size_t) *capacity);
}

char *
xstrdup(const char *str)
{
	char	   *copy = strdup(str);

	if (copy == NULL)
		fatal("out of memory");
	return copy;
}

void
buffer_init(Buffer *buf)
{
	buf->size = 256;
	buf->data = xmalloc(buf->size);
	buffer_reset(buf);
}

void
buffer_reset(Buffer *buf)
{
	buf->len = 0;
	buf->data[0] = '\0';
}

void
buffer_free(Buffer *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->size = 0;
}

/* buffer_reserve: room for extra more bytes and the terminating zero. */
static void
buffer_reserve(Buffer *buf, size_t extra)
{
	if (buf->len + extra + 1 <= buf->size)
		return;
	while (buf->len + extra + 1 > buf->size)
		buf->size *= 2;
	buf->data = xrealloc(buf->data, buf->size);
}

void
buffer_append(Buffer *buf, const char *data, size_t len)
{
	buffer_reserve(buf, len);
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

void
buffer_append_str(Buffer *buf, const char *str)
{
	buffer_append(buf, str, strlen(str));
}

void
buffer_printf(Buffer *buf, const char *fmt,...)
{
	va_list		args;
	int			needed;

	va_start(args, fmt);
	needed = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	buffer_reserve(buf, (size_t) needed);
	va_start(args, fmt);
	vsnprintf(buf->data + buf->len, (size_t) needed + 1, fmt, args);
	va_end(args);
	buf->len += (size_t) needed;
}

/*
 * redis_url_parse: redis://HOST:PORT[/DB] into its parts; false when it is
 * not one.
 */
bool
redis_url_parse(const char *url, RedisUrl *parsed)
{
	const char *host;
	const char *colon;
	char	   *end;
	long		port;
	long		db = 0;

	if (strncmp(url, "redis://", 8) != 0)
		return false;
	host = url + 8;
	colon = strchr(host, ':');
	if (colon == NULL || colon == host)
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || port <= 0 || port > 65535)
		return false;
	if (*end == '/')
	{
		char	   *db_end;

		db = strtol(end + 1, &db_end, 10);
		if (db_end == end + 1 || *db_end != '\0' || db < 0 || db > 65535)
			return false;
	}
	else if (*end != '\0')
		return false;
	parsed->host = xmalloc((size_t) (colon - host) + 1);
	memcpy(parsed->host, host, (size_t) (colon - host));
	parsed->host[colon - host] = '\0';
	parsed->port = (int) port;
	parsed->db = (int) db;
	return true;
}
