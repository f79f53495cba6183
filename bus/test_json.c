/*-------------------------------------------------------------------------
 *
 * bus/test_json.c
 *		Unit tests of bus/json.c: what it parses, what it refuses, and
 *		strings written byte for byte as Python's json.dumps writes them.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "common.h"
#include "json.h"
#include "tap.h"
#include <stdio.h>

static const char *
field(const char *text, const char *key)
{
	static char value[256];
	JsonObject	object;
	const JsonField *found;

	if (!json_parse_object(text, &object))
		return NULL;
	found = json_find(&object, key);
	snprintf(value, sizeof(value), "%s%s", found ? (found->is_string ? "s:" : "l:") : "",
			 found ? found->value : "(none)");
	json_free(&object);
	return value;
}

static const char *
written(const char *value)
{
	static Buffer buf;

	if (buf.data == NULL)
		buffer_init(&buf);
	buffer_reset(&buf);
	json_append_string(&buf, value);
	return buf.data;
}

int
main(void)
{
	JsonObject	object;

	/* what a payload of the outbox looks like (jsonb's text) */
	is_str(field("{\"qty\": 1, \"sku\": \"LAMP\", \"orderid\": \"o1\", \"batchref\": \"b1\"}", "sku"),
		   "s:LAMP", "a payload: a string field");
	is_str(field("{\"qty\": 1, \"sku\": \"LAMP\"}", "qty"), "l:1", "a payload: a number field");
	is_str(field("{\"a\": -12.5e3}", "a"), "l:-12.5e3", "a number with sign, fraction and exponent");
	is_str(field("{\"a\": true, \"b\": null}", "b"), "l:null", "null and true");
	is_str(field("  {\"a\" : \"x\" ,\"b\":\"y\"}  ", "b"), "s:y", "white space anywhere it may be");
	is_str(field("{}", "a"), "(none)", "an empty object");
	is_str(field("{\"a\": \"\\\"q\\\\ \\/ \\n\\t\"}", "a"), "s:\"q\\ / \n\t", "escapes");
	is_str(field("{\"a\": \"\\u00e9\\u20ac\"}", "a"), "s:\xc3\xa9\xe2\x82\xac", "\\u escapes become UTF-8");
	is_str(field("{\"a\": \"\\ud83d\\ude00\"}", "a"), "s:\xf0\x9f\x98\x80", "a surrogate pair becomes one character");
	is_str(field("{\"a\": \"caf\xc3\xa9\"}", "a"), "s:caf\xc3\xa9", "UTF-8 as it is");
	is_str(field("{\"a\": 1, \"a\": 2}", "a"), "l:2", "a key twice: the last");

	/* what is refused, leaving nothing to free */
	ok(!json_parse_object("[1, 2]", &object), "an array is refused");
	ok(!json_parse_object("\"s\"", &object), "a string is refused");
	ok(!json_parse_object("{\"a\": {\"b\": 1}}", &object), "a nested object is refused");
	ok(!json_parse_object("{\"a\": [1]}", &object), "a nested array is refused");
	ok(!json_parse_object("{\"a\": 1", &object), "an unclosed object is refused");
	ok(!json_parse_object("{\"a\": 1} x", &object), "trailing text is refused");
	ok(!json_parse_object("{\"a\": \"\\u0000\"}", &object), "\\u0000 is refused");
	ok(!json_parse_object("{\"a\": \"\\ud83d\"}", &object), "a lone surrogate is refused");
	ok(!json_parse_object("{\"a\": \"x\ny\"}", &object), "a raw control character is refused");
	ok(!json_parse_object("{\"a\": \"\\x\"}", &object), "an unknown escape is refused");
	ok(!json_parse_object("{a: 1}", &object), "an unquoted key is refused");
	ok(!json_parse_object("", &object), "nothing is refused");
	ok(object.nfields == 0 && object.fields == NULL, "a refusal leaves nothing");

	/* strings as json.dumps(ensure_ascii=True) writes them */
	is_str(written("o1"), "\"o1\"", "a plain string");
	is_str(written("say \"hi\" \\ back"), "\"say \\\"hi\\\" \\\\ back\"", "quotes and backslashes");
	is_str(written("a\nb\tc\x01"), "\"a\\nb\\tc\\u0001\"", "control characters");
	is_str(written("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\\u00e9 \\u20ac\"", "non-ASCII as \\u");
	is_str(written("\xf0\x9f\x98\x80"), "\"\\ud83d\\ude00\"", "above U+FFFF as a surrogate pair");
	return done_testing();
}
