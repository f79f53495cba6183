/*-------------------------------------------------------------------------
 *
 * src/holds.c
 *		Holds: stock reserved for a checkout until it expires, confirmed
 *		into order lines or released.  hold, confirm_hold, release_hold and
 *		hold_lines.
 *
 * A hold has a lock of its own (AlLockHold), taken before its products:
 * shared by the calls that add lines, exclusive for confirming and
 * releasing, so that a hold is confirmed or released as a whole.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/*
 * allocation.hold(holdid text, sku text, qty integer, ttl interval)
 * RETURNS text
 *
 * Holds qty of sku on the batch the rule of allocate picks, until ttl from
 * now, and returns its reference; NULL (and OutOfStock) when no batch can
 * take it.  Holding the line (holdid, sku) again with the same qty returns
 * its batch and keeps its expiry; another qty is AL003.  A line added to a
 * live hold expires with it; AL004 when the hold was confirmed already.
 * Raises 22023 for a ttl that is not more than 0 and at most a day.  Locks
 * the hold (shared), then the product.
 */
PG_FUNCTION_INFO_V1(allocation_hold);
Datum
allocation_hold(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	text	   *sku = AlIdentifierArg(fcinfo, 1, "sku");
	int32		qty = AlQuantityArg(fcinfo, 2, "qty", 1);
	int64		ttl_usecs = AlTtlArg(fcinfo, 3, "ttl");
	int64		version;
	TimestampTz now;
	TimestampTz expires_at;
	text	   *batchref;

	AlConnect();
	AlLockHold(holdid, false);
	version = AlLockProduct(sku, true);
	now = AlClock();
	AlReclaimExpired(sku, now);
	if (!AlFindHold(holdid, sku, qty, ttl_usecs, now, &batchref, &expires_at))
		batchref = AlPlaceHold(holdid, sku, qty, expires_at, version, now);
	batchref = AlReturnText(batchref);
	AlFinish();

	if (batchref == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(batchref);
}

/*
 * AlLockHoldLines: lock a hold exclusively, then the products of its lines
 * and of extra (extra_lines, sorted in lock order; may be NULL), all in lock
 * order, read the clock, then read the hold's lines under the locks.
 * Returns how many lines, in byte order of sku, each with its product's
 * version.  No reclaiming here: a confirm must see every line of the hold
 * to refuse an expired one.
 *
 * The skus are read before the product locks but under the hold's lock, so
 * no line can be added meanwhile; one can only go (reclaimed, or moved to
 * another batch of its product).
 */
int
AlLockHoldLines(text *holdid, AlOrderLine *extra, int nextra, AlHoldLine **lines,
				TimestampTz *now)
{
	Datum		args[1] = {PointerGetDatum(holdid)};
	AlResult	skus;
	AlResult	read;
	AlOrderLine *products;
	int			nproducts;
	uint64		row;
	int			i;

	AlLockHold(holdid, true);
	skus = AlExecute(AL_STMT_HOLD_SKUS, args, NULL, 0);
	products = palloc0((skus.n + nextra + 1) * sizeof(AlOrderLine));
	for (row = 0; row < skus.n; row++)
		products[row].sku = AlTextCopy(skus, row, 1);
	AlFree(skus);
	for (i = 0; i < nextra; i++)
		products[skus.n + i].sku = extra[i].sku;
	nproducts = AlSortLines(products, (int) skus.n + nextra, true);
	AlLockProducts(products, nproducts);
	for (i = 0; i < nextra; i++)
	{
		int			j;

		for (j = 0; j < nproducts; j++)
		{
			if (AlCompareBytes(products[j].sku, extra[i].sku) == 0)
				extra[i].version = products[j].version;
		}
	}
	*now = AlClock();

	/* Both in byte order of sku: one walk pairs each line with its product. */
	read = AlExecute(AL_STMT_HOLD_LINES, args, NULL, 0);
	*lines = palloc0((read.n + 1) * sizeof(AlHoldLine));
	i = 0;
	for (row = 0; row < read.n; row++)
	{
		AlHoldLine *line = &(*lines)[row];
		bool		isnull;

		line->sku = AlTextCopy(read, row, 1);
		line->qty = DatumGetInt32(AlValue(read, row, 2, &isnull));
		line->batchref = AlTextCopy(read, row, 3);
		line->expires_at = DatumGetTimestampTz(AlValue(read, row, 4, &isnull));
		line->orderid = AlTextCopy(read, row, 5);
		while (i < nproducts && AlCompareBytes(products[i].sku, line->sku) < 0)
			i++;
		if (i == nproducts || AlCompareBytes(products[i].sku, line->sku) != 0)
			elog(ERROR, "allocation: hold \"%s\" has a line of sku \"%s\" that was not locked",
				 text_to_cstring(holdid), text_to_cstring(line->sku));
		line->version = products[i].version;
	}
	AlFree(read);
	return (int) read.n;
}

/*
 * AlConfirmHold: what confirm_hold does with the hold's lines, read under
 * their locks (AlLockHoldLines): when none was confirmed, every line becomes
 * an order line of orderid on the same batch (Released, confirmed, then
 * Allocated for each).  Raises AL004, changing nothing, when the hold does
 * not exist, when any line has expired, or when it was confirmed for
 * another order; AL003 when the order already has a line of one of its
 * skus.  Returns whether lines were confirmed now (false: confirmed before,
 * for this order).
 */
bool
AlConfirmHold(text *holdid, text *orderid, AlHoldLine *lines, int nlines, TimestampTz now)
{
	int			nconfirmed = 0;
	int			i;

	if (nlines == 0)
		ereport(ERROR,
				errcode(ERRCODE_AL_HOLD_NOT_LIVE),
				errmsg("hold \"%s\" does not exist", text_to_cstring(holdid)));
	for (i = 0; i < nlines; i++)
	{
		if (lines[i].expires_at <= now)
			ereport(ERROR,
					errcode(ERRCODE_AL_HOLD_NOT_LIVE),
					errmsg("hold \"%s\" has expired", text_to_cstring(holdid)));
		if (lines[i].orderid == NULL)
			continue;
		if (AlCompareBytes(lines[i].orderid, orderid) != 0)
			ereport(ERROR,
					errcode(ERRCODE_AL_HOLD_NOT_LIVE),
					errmsg("hold \"%s\" was confirmed for order \"%s\"",
						   text_to_cstring(holdid), text_to_cstring(lines[i].orderid)));
		nconfirmed++;
	}
	if (nconfirmed == nlines)
		return false;
	if (nconfirmed > 0)
		elog(ERROR, "allocation: hold \"%s\" is partly confirmed", text_to_cstring(holdid));

	for (i = 0; i < nlines; i++)
	{
		Datum		args[4];
		AlResult	confirmed;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		args[0] = PointerGetDatum(holdid);
		args[1] = PointerGetDatum(lines[i].sku);
		args[2] = PointerGetDatum(orderid);
		args[3] = Int64GetDatum(AlNextVersion(lines[i].sku, lines[i].version));
		confirmed = AlExecute(AL_STMT_CONFIRM_HOLD_LINE, args, NULL, 0);
		if (DatumGetBool(AlValue(confirmed, 0, 1, &isnull)))
			ereport(ERROR,
					errcode(ERRCODE_AL_QTY_MISMATCH),
					errmsg("order line \"%s\"/\"%s\" is already allocated",
						   text_to_cstring(orderid), text_to_cstring(lines[i].sku)),
					errhint("Deallocate the line before confirming hold \"%s\" into order \"%s\".",
							text_to_cstring(holdid), text_to_cstring(orderid)));
		AlNotify("Allocated", AlValue(confirmed, 0, 2, &isnull));
		AlFree(confirmed);
	}
	return true;
}

/*
 * allocation.confirm_hold(holdid text, orderid text)
 * RETURNS TABLE (sku text, batchref text)
 *
 * Turns every line of a live hold into an allocated line of orderid on the
 * same batch, atomically (AlConfirmHold), and returns the lines in byte
 * order of sku.  Confirming the same hold again for the same order changes
 * nothing and returns what the order holds of the hold's skus now: a line
 * deallocated since is left out, one moved by change_batch_quantity shows
 * its new batch.  Locks the hold exclusively, then its products in byte
 * order of sku.
 */
PG_FUNCTION_INFO_V1(allocation_confirm_hold);
Datum
allocation_confirm_hold(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	text	   *orderid = AlIdentifierArg(fcinfo, 1, "orderid");
	ReturnSetInfo *rsinfo;
	AlHoldLine *lines;
	TimestampTz now;
	bool		confirmed_now;
	int			nlines;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AlConnect();
	nlines = AlLockHoldLines(holdid, NULL, 0, &lines, &now);
	confirmed_now = AlConfirmHold(holdid, orderid, lines, nlines, now);

	/* The tuplestore copies each row before SPI's memory goes. */
	for (i = 0; i < nlines; i++)
	{
		text	   *batchref = confirmed_now ? lines[i].batchref : AlLineBatch(orderid, lines[i].sku);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (batchref == NULL)
			continue;
		values[0] = PointerGetDatum(lines[i].sku);
		values[1] = PointerGetDatum(batchref);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AlFinish();
	return (Datum) 0;
}

/*
 * release_lines: free the live lines of a hold read under their locks
 * (AlLockHoldLines) whose sku is among skus (all when skus is NULL), with
 * Released (released); expired ones go on the way (Released, expired).
 * Confirmed lines are order lines now and stay.  Returns how many live
 * lines were freed.
 */
static int
release_lines(text *holdid, AlHoldLine *lines, int nlines, AlOrderLine *skus, int nskus,
			  TimestampTz now)
{
	int			released = 0;
	int			i;

	for (i = 0; i < nlines; i++)
	{
		Datum		args[4];
		int			j;
		bool		wanted = skus == NULL;

		for (j = 0; j < nskus && !wanted; j++)
			wanted = AlCompareBytes(skus[j].sku, lines[i].sku) == 0;
		if (!wanted || lines[i].orderid != NULL)
			continue;
		CHECK_FOR_INTERRUPTS();
		args[0] = PointerGetDatum(holdid);
		args[1] = PointerGetDatum(lines[i].sku);
		args[2] = TimestampTzGetDatum(now);
		args[3] = Int64GetDatum(AlNextVersion(lines[i].sku, lines[i].version));
		AlFree(AlExecute(AL_STMT_RELEASE_HOLD_LINE, args, NULL, 0));
		if (lines[i].expires_at > now)
			released++;
	}
	return released;
}

/*
 * allocation.release_hold(holdid text) RETURNS integer
 *
 * Frees every live line of the hold (Released, released) and returns how
 * many; 0 for an unknown hold.  Lines that expired are reclaimed on the way
 * (Released, expired) and not counted; confirmed lines are order lines now
 * and stay (deallocate frees them).  Locks the hold exclusively, then its
 * products in byte order of sku.
 */
PG_FUNCTION_INFO_V1(allocation_release_hold);
Datum
allocation_release_hold(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	AlHoldLine *lines;
	TimestampTz now;
	int			nlines;
	int			released;

	AlConnect();
	nlines = AlLockHoldLines(holdid, NULL, 0, &lines, &now);
	released = release_lines(holdid, lines, nlines, NULL, 0, now);
	AlFinish();
	PG_RETURN_INT32(released);
}

/*
 * allocation.release_hold_lines(holdid text, skus text[]) RETURNS integer
 *
 * release_hold for the lines of some skus only: what a router undoes of a
 * hold_order over several shards that came up short, leaving the lines the
 * hold had before.  Returns how many live lines it freed; 22023 for a sku
 * that is not an identifier, freeing none.
 */
PG_FUNCTION_INFO_V1(allocation_release_hold_lines);
Datum
allocation_release_hold_lines(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	int			nskus;
	AlOrderLine *skus = AlSkusArg(fcinfo, 1, "skus", &nskus);
	AlHoldLine *lines;
	TimestampTz now;
	int			nlines;
	int			released;

	AlConnect();
	nlines = AlLockHoldLines(holdid, NULL, 0, &lines, &now);
	released = release_lines(holdid, lines, nlines, skus, nskus, now);
	AlFinish();
	PG_RETURN_INT32(released);
}
