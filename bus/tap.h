/*-------------------------------------------------------------------------
 *
 * bus/tap.h
 *		TAP output for the unit tests: "ok N - name" or "not ok N - name",
 *		then the plan; the exit status says whether all passed.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BUS_TAP_H
#define BUS_TAP_H

#include <stdio.h>
#include <string.h>

static int	tap_run = 0;
static int	tap_failed = 0;

static void
ok(int passed, const char *name)
{
	tap_run++;
	if (!passed)
		tap_failed++;
	printf("%sok %d - %s\n", passed ? "" : "not ", tap_run, name);
}

static void
is_str(const char *got, const char *expected, const char *name)
{
	int			passed = got != NULL && strcmp(got, expected) == 0;

	ok(passed, name);
	if (!passed)
		printf("#   got:      %s\n#   expected: %s\n", got ? got : "(null)", expected);
}

static int
done_testing(void)
{
	printf("1..%d\n", tap_run);
	return tap_failed == 0 ? 0 : 1;
}

#endif							/* BUS_TAP_H */
