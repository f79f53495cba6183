/*-------------------------------------------------------------------------
 *
 * bus/json.c
 *		The JSON the bus reads and writes (json.h).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct Parser
{
	const char *p;
} Parser;

static void
skip_space(Parser *parser)
{
	while (*parser->p == ' ' || *parser->p == '\t' || *parser->p == '\n' || *parser->p == '\r')
		parser->p++;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* read_hex4: the code unit of a \uXXXX escape, or -1. */
static long
read_hex4(const char *p)
{
	long		value = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		int			digit = hex_value(p[i]);

		if (digit < 0)
			return -1;
		value = value * 16 + digit;
	}
	return value;
}

static void
append_utf8(Buffer *buf, long code)
{
	char		bytes[4];
	size_t		n;

	if (code < 0x80)
	{
		bytes[0] = (char) code;
		n = 1;
	}
	else if (code < 0x800)
	{
		bytes[0] = (char) (0xC0 | (code >> 6));
		bytes[1] = (char) (0x80 | (code & 0x3F));
		n = 2;
	}
	else if (code < 0x10000)
	{
		bytes[0] = (char) (0xE0 | (code >> 12));
		bytes[1] = (char) (0x80 | ((code >> 6) & 0x3F));
		bytes[2] = (char) (0x80 | (code & 0x3F));
		n = 3;
	}
	else
	{
		bytes[0] = (char) (0xF0 | (code >> 18));
		bytes[1] = (char) (0x80 | ((code >> 12) & 0x3F));
		bytes[2] = (char) (0x80 | ((code >> 6) & 0x3F));
		bytes[3] = (char) (0x80 | (code & 0x3F));
		n = 4;
	}
	buffer_append(buf, bytes, n);
}

/*
 * parse_string: a string literal at the parser's position, unescaped into
 * a new string; NULL when it is not one (or holds \u0000).
 */
static char *
parse_string(Parser *parser)
{
	Buffer		out;

	if (*parser->p != '"')
		return NULL;
	parser->p++;
	buffer_init(&out);
	while (*parser->p != '"')
	{
		char		c = *parser->p;

		if (c == '\0' || (unsigned char) c < 0x20)
			goto bad;
		if (c != '\\')
		{
			buffer_append(&out, parser->p++, 1);
			continue;
		}
		parser->p++;
		switch (*parser->p)
		{
			case '"':
			case '\\':
			case '/':
				buffer_append(&out, parser->p, 1);
				break;
			case 'b':
				buffer_append(&out, "\b", 1);
				break;
			case 'f':
				buffer_append(&out, "\f", 1);
				break;
			case 'n':
				buffer_append(&out, "\n", 1);
				break;
			case 'r':
				buffer_append(&out, "\r", 1);
				break;
			case 't':
				buffer_append(&out, "\t", 1);
				break;
			case 'u':
				{
					long		code = read_hex4(parser->p + 1);

					if (code <= 0)
						goto bad;
					parser->p += 4;
					if (code >= 0xD800 && code <= 0xDBFF)
					{
						long		low;

						if (parser->p[1] != '\\' || parser->p[2] != 'u')
							goto bad;
						low = read_hex4(parser->p + 3);
						if (low < 0xDC00 || low > 0xDFFF)
							goto bad;
						code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
						parser->p += 6;
					}
					else if (code >= 0xDC00 && code <= 0xDFFF)
						goto bad;
					append_utf8(&out, code);
					break;
				}
			default:
				goto bad;
		}
		parser->p++;
	}
	parser->p++;
	return out.data;
bad:
	buffer_free(&out);
	return NULL;
}

/*
 * parse_literal: a number, true, false or null at the parser's position,
 * as its text; NULL when it is none of them.
 */
static char *
parse_literal(Parser *parser)
{
	const char *start = parser->p;
	char	   *text;
	size_t		len;

	if (strncmp(start, "true", 4) == 0)
		parser->p += 4;
	else if (strncmp(start, "false", 5) == 0)
		parser->p += 5;
	else if (strncmp(start, "null", 4) == 0)
		parser->p += 4;
	else
	{
		if (*parser->p == '-')
			parser->p++;
		if (*parser->p < '0' || *parser->p > '9')
			return NULL;
		while ((*parser->p >= '0' && *parser->p <= '9') || *parser->p == '.' ||
			   *parser->p == 'e' || *parser->p == 'E' || *parser->p == '+' || *parser->p == '-')
			parser->p++;
	}
	len = (size_t) (parser->p - start);
	text = xmalloc(len + 1);
	memcpy(text, start, len);
	text[len] = '\0';
	return text;
}

/*
 * json_parse_object: a flat JSON object (values strings, numbers, true,
 * false or null) into its fields, in the order written; false for
 * anything else, with nothing to free.
 */
bool
json_parse_object(const char *text, JsonObject *object)
{
	Parser		parser = {text};

	object->fields = NULL;
	object->nfields = 0;
	skip_space(&parser);
	if (*parser.p++ != '{')
		return false;
	skip_space(&parser);
	if (*parser.p == '}')
		parser.p++;
	else
	{
		for (;;)
		{
			JsonField	field;

			skip_space(&parser);
			field.key = parse_string(&parser);
			if (field.key == NULL)
				goto bad;
			skip_space(&parser);
			if (*parser.p++ != ':')
			{
				free(field.key);
				goto bad;
			}
			skip_space(&parser);
			field.is_string = *parser.p == '"';
			field.value = field.is_string ? parse_string(&parser) : parse_literal(&parser);
			if (field.value == NULL)
			{
				free(field.key);
				goto bad;
			}
			object->fields = xrealloc(object->fields, sizeof(JsonField) * (size_t) (object->nfields + 1));
			object->fields[object->nfields++] = field;
			skip_space(&parser);
			if (*parser.p == ',')
			{
				parser.p++;
				continue;
			}
			if (*parser.p++ != '}')
				goto bad;
			break;
		}
	}
	skip_space(&parser);
	if (*parser.p != '\0')
		goto bad;
	return true;
bad:
	json_free(object);
	return false;
}

/* json_find: the field of that key (the last, if it is there twice), or NULL. */
const JsonField *
json_find(const JsonObject *object, const char *key)
{
	int			i;

	for (i = object->nfields - 1; i >= 0; i--)
	{
		if (strcmp(object->fields[i].key, key) == 0)
			return &object->fields[i];
	}
	return NULL;
}

void
json_free(JsonObject *object)
{
	int			i;

	for (i = 0; i < object->nfields; i++)
	{
		free(object->fields[i].key);
		free(object->fields[i].value);
	}
	free(object->fields);
	object->fields = NULL;
	object->nfields = 0;
}

/*
 * json_append_string: a JSON string literal of value, escaped as Python's
 * json.dumps escapes it by default (ASCII out: other characters as \uXXXX),
 * so that a message is byte for byte what the book's publisher sends.
 */
void
json_append_string(Buffer *buf, const char *value)
{
	const unsigned char *p = (const unsigned char *) value;

	buffer_append(buf, "\"", 1);
	while (*p)
	{
		unsigned char c = *p;

		if (c == '"' || c == '\\')
		{
			buffer_append(buf, "\\", 1);
			buffer_append(buf, (const char *) p, 1);
			p++;
		}
		else if (c == '\n')
			buffer_append_str(buf, "\\n"), p++;
		else if (c == '\r')
			buffer_append_str(buf, "\\r"), p++;
		else if (c == '\t')
			buffer_append_str(buf, "\\t"), p++;
		else if (c == '\b')
			buffer_append_str(buf, "\\b"), p++;
		else if (c == '\f')
			buffer_append_str(buf, "\\f"), p++;
		else if (c < 0x20)
			buffer_printf(buf, "\\u%04x", c), p++;
		else if (c < 0x80)
			buffer_append(buf, (const char *) p++, 1);
		else
		{
			/* decode one UTF-8 character, write it as \uXXXX (pairs above U+FFFF) */
			long		code;
			int			extra;

			if ((c & 0xE0) == 0xC0)
				code = c & 0x1F, extra = 1;
			else if ((c & 0xF0) == 0xE0)
				code = c & 0x0F, extra = 2;
			else
				code = c & 0x07, extra = 3;
			p++;
			while (extra-- > 0 && (*p & 0xC0) == 0x80)
				code = (code << 6) | (*p++ & 0x3F);
			if (code >= 0x10000)
			{
				code -= 0x10000;
				buffer_printf(buf, "\\u%04lx\\u%04lx", 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF));
			}
			else
				buffer_printf(buf, "\\u%04lx", code);
		}
	}
	buffer_append(buf, "\"", 1);
}
