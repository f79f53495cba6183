/*-------------------------------------------------------------------------
 *
 * bus/json.h
 *		The JSON the bus reads and writes: flat objects of strings,
 *		numbers, true, false and null (the events' payloads, the commands'
 *		results), strictly parsed, and string literals written escaped.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BUS_JSON_H
#define BUS_JSON_H

#include <stdbool.h>

#include "common.h"

typedef struct JsonField
{
	char	   *key;
	char	   *value;			/* a string unescaped, else the literal's text */
	bool		is_string;
} JsonField;

typedef struct JsonObject
{
	JsonField  *fields;
	int			nfields;
} JsonObject;

extern bool json_parse_object(const char *text, JsonObject *object);
extern const JsonField *json_find(const JsonObject *object, const char *key);
extern void json_free(JsonObject *object);
extern void json_append_string(Buffer *buf, const char *value);

#endif							/* BUS_JSON_H */
