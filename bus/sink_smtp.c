/*-------------------------------------------------------------------------
 *
 * bus/sink_smtp.c
 *		The SMTP sink: one e-mail per OutOfStock event to the stock team,
 *		as the book's notification handler sends it ("Out of stock for
 *		<sku>"), through libcurl.
 *
 * A mail server cannot say what it has received, so this sink knows no
 * position: a mail is sent again when the relay dies after the server took
 * it and before the relay acknowledged it.  Its Message-ID is derived from
 * the event's outbox id and the slot, so that a resend is recognisable
 * (and dropped by a mail system that deduplicates by Message-ID).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "common.h"
#include "json.h"
#include "pgoutput.h"
#include "sink.h"

typedef struct SmtpSink
{
	char	   *url;			/* smtp://HOST:PORT */
	char	   *from;
	char	   *to;
	char	   *slot;
	CURL	   *curl;
	long		last_sent_id;	/* resends within a retried batch are skipped */
} SmtpSink;

/* The message being read by libcurl. */
typedef struct Upload
{
	const char *data;
	size_t		left;
} Upload;

static size_t
read_message(char *out, size_t size, size_t nmemb, void *arg)
{
	Upload	   *upload = arg;
	size_t		n = size * nmemb < upload->left ? size * nmemb : upload->left;

	memcpy(out, upload->data, n);
	upload->data += n;
	upload->left -= n;
	return n;
}

static SinkStatus
smtp_open(Sink *sink, Lsn *position, Buffer *error)
{
	SmtpSink   *state = sink->state;

	(void) error;
	*position = 0;
	if (state->curl == NULL)
		state->curl = curl_easy_init();
	return state->curl ? SINK_OK : SINK_FATAL;
}

/* compose: the mail of an OutOfStock event. */
static void
compose(SmtpSink *state, const OutboxEvent *event, const char *sku, Buffer *mail)
{
	char		date[64];
	time_t		now = time(NULL);
	struct tm	utc;

	gmtime_r(&now, &utc);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &utc);
	buffer_reset(mail);
	buffer_printf(mail,
				  "Date: %s\r\n"
				  "From: %s\r\n"
				  "To: %s\r\n"
				  "Subject: allocation service notification\r\n"
				  "Message-ID: <allocation-event-%s.%s@allocation.invalid>\r\n"
				  "Content-Type: text/plain; charset=utf-8\r\n"
				  "\r\n"
				  "Out of stock for %s\r\n",
				  date, state->from, state->to, event->id, state->slot, sku);
}

static SinkStatus
smtp_deliver(Sink *sink, Transaction *transactions, int ntransactions, Buffer *error)
{
	SmtpSink   *state = sink->state;
	Buffer		mail;
	int			t;
	SinkStatus	status = SINK_OK;

	buffer_init(&mail);
	for (t = 0; t < ntransactions && status == SINK_OK; t++)
	{
		int			e;

		for (e = 0; e < transactions[t].nevents && status == SINK_OK; e++)
		{
			OutboxEvent *event = &transactions[t].events[e];
			JsonObject	payload;
			const JsonField *sku;
			struct curl_slist *recipients = NULL;
			Upload		upload;
			CURLcode	rc;

			if (strcmp(event->event, "OutOfStock") != 0 || atol(event->id) <= state->last_sent_id)
				continue;
			if (!json_parse_object(event->payload, &payload) || (sku = json_find(&payload, "sku")) == NULL)
			{
				buffer_printf(error, "OutOfStock event %s has no sku: %s", event->id, event->payload);
				json_free(&payload);
				status = SINK_FATAL;
				break;
			}
			compose(state, event, sku->value, &mail);
			json_free(&payload);
			upload.data = mail.data;
			upload.left = mail.len;
			recipients = curl_slist_append(recipients, state->to);
			curl_easy_reset(state->curl);
			curl_easy_setopt(state->curl, CURLOPT_URL, state->url);
			curl_easy_setopt(state->curl, CURLOPT_MAIL_FROM, state->from);
			curl_easy_setopt(state->curl, CURLOPT_MAIL_RCPT, recipients);
			curl_easy_setopt(state->curl, CURLOPT_READFUNCTION, read_message);
			curl_easy_setopt(state->curl, CURLOPT_READDATA, &upload);
			curl_easy_setopt(state->curl, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(state->curl, CURLOPT_CONNECTTIMEOUT, 5L);
			curl_easy_setopt(state->curl, CURLOPT_TIMEOUT, 30L);
			rc = curl_easy_perform(state->curl);
			curl_slist_free_all(recipients);
			if (rc != CURLE_OK)
			{
				buffer_printf(error, "%s", curl_easy_strerror(rc));
				status = SINK_RETRY;
			}
			else
				state->last_sent_id = atol(event->id);
		}
	}
	buffer_free(&mail);
	return status;
}

static SinkStatus
smtp_note(Sink *sink, Lsn position, Buffer *error)
{
	(void) sink;
	(void) position;
	(void) error;
	return SINK_OK;
}

static void
smtp_close(Sink *sink)
{
	SmtpSink   *state = sink->state;

	if (state->curl)
		curl_easy_cleanup(state->curl);
	state->curl = NULL;
}

static void
smtp_destroy(Sink *sink)
{
	SmtpSink   *state = sink->state;

	free(state->url);
	free(state->from);
	free(state->to);
	free(state->slot);
	free(state);
	free(sink);
	curl_global_cleanup();
}

/*
 * smtp_sink: the SMTP sink for HOST:PORT, mails from and to the addresses
 * given; the slot names the stream in Message-IDs.
 */
Sink *
smtp_sink(const char *server, const char *from, const char *to, const char *slot)
{
	Sink	   *sink = xmalloc(sizeof(Sink));
	SmtpSink   *state = xmalloc(sizeof(SmtpSink));
	Buffer		url;

	memset(state, 0, sizeof(SmtpSink));
	if (strchr(server, ':') == NULL || strchr(server, '/') != NULL)
		fatal("--smtp \"%s\" is not HOST:PORT", server);
	buffer_init(&url);
	buffer_printf(&url, "smtp://%s", server);
	state->url = url.data;
	state->from = xstrdup(from);
	state->to = xstrdup(to);
	state->slot = xstrdup(slot);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sink->what = "the SMTP server";
	sink->knows_position = false;
	sink->open = smtp_open;
	sink->deliver = smtp_deliver;
	sink->note = smtp_note;
	sink->close = smtp_close;
	sink->destroy = smtp_destroy;
	sink->state = state;
	return sink;
}
