/*-------------------------------------------------------------------------
 *
 * bus/common.h
 *		What allocation-relay and allocation-consumer share: messages on
 *		stderr, stopping on SIGTERM, waiting out an outage, LSNs, time,
 *		growable strings and Redis URLs.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BUS_COMMON_H
#define BUS_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The program's name in its messages. */
extern const char *progname;

/* Set by SIGTERM or SIGINT: finish what is in hand, then stop. */
extern volatile sig_atomic_t stop_requested;

extern void log_info(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void log_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void fatal(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));
extern void catch_stop_signals(void);

/*
 * An outage waited out: each wait doubles, from 100 ms up to 5 s, and is
 * reported once per outage on stderr; success resets it.
 */
typedef struct Backoff
{
	const char *what;			/* "PostgreSQL", "Redis", "the SMTP server" */
	int			wait_ms;
	bool		reported;
} Backoff;

extern void backoff_wait(Backoff *backoff, const char *why);
extern void backoff_reset(Backoff *backoff);

/* Microseconds since the Unix epoch, and PostgreSQL's epoch offset. */
extern int64_t now_usec(void);
#define PG_EPOCH_OFFSET_USEC INT64_C(946684800000000)

/* LSNs as PostgreSQL writes them: "16/B374D848". */
typedef uint64_t Lsn;
extern void lsn_format(Lsn lsn, char *out, size_t size);
extern bool lsn_parse(const char *text, Lsn *lsn);

/* A growable string. */
typedef struct Buffer
{
	char	   *data;
	size_t		len;
	size_t		size;
} Buffer;

extern void buffer_init(Buffer *buf);
extern void buffer_reset(Buffer *buf);
extern void buffer_free(Buffer *buf);
extern void buffer_append(Buffer *buf, const char *data, size_t len);
extern void buffer_append_str(Buffer *buf, const char *str);
extern void buffer_printf(Buffer *buf, const char *fmt,...) __attribute__((format(printf, 2, 3)));

extern void *xmalloc(size_t size);
extern void *xrealloc(void *ptr, size_t size);
extern void *xgrow(void *array, size_t elem_size, int n, int *capacity);
extern char *xstrdup(const char *str);

/* A Redis URL: redis://HOST:PORT[/DB]. */
typedef struct RedisUrl
{
	char	   *host;
	int			port;
	int			db;
} RedisUrl;

extern bool redis_url_parse(const char *url, RedisUrl *parsed);

#endif							/* BUS_COMMON_H */
