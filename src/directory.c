/*-------------------------------------------------------------------------
 *
 * src/directory.c
 *		The batch directory a router keeps on its shards: which sku each
 *		batch reference belongs to, so that a reference is unique across
 *		all shards and change_batch_quantity finds its batch's shard without
 *		asking every shard.
 *
 * A router adds a batch in three calls, each committing on its own: it
 * claims the reference on the shard that hashtext(reference) picks
 * (batch_claim: 23505 when the reference is taken, for any sku), places
 * the batch on its sku's shard (batch_place), and marks the claim placed
 * (batch_placed).  A claim is the decision: recover() places what a router
 * that died left claimed (batch_claims_pending).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "allocation.h"

/*
 * batch_args: ref, sku, qty and eta (arguments 0 to 3) checked as
 * add_batch checks them, as statement parameters and nulls.
 */
static void
batch_args(FunctionCallInfo fcinfo, Datum *args, char *nulls)
{
	args[0] = PointerGetDatum(AlIdentifierArg(fcinfo, 0, "ref"));
	args[1] = PointerGetDatum(AlIdentifierArg(fcinfo, 1, "sku"));
	args[2] = Int32GetDatum(AlQuantityArg(fcinfo, 2, "qty", 0));
	args[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[0] = nulls[1] = nulls[2] = ' ';
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
}

/*
 * same_sku: whether a statement's one-row result names sku in column 1.
 */
static bool
same_sku(AlResult found, text *sku)
{
	text	   *other = AlTextCopy(found, 0, 1);

	return other != NULL && AlCompareBytes(other, sku) == 0;
}

/*
 * allocation.batch_claim(ref text, sku text, qty integer, eta date,
 *                        placed boolean) RETURNS void
 *
 * Claims a batch reference for a sku, with the batch's qty and eta, on the
 * shard of the reference.  Raises 23505 when the reference is claimed
 * already, except for a claim recording a batch that exists (placed: a
 * router adopting its shards' batches), which is a no-op when the claim
 * names the same sku.  Argument errors as add_batch.
 */
PG_FUNCTION_INFO_V1(allocation_batch_claim);
Datum
allocation_batch_claim(PG_FUNCTION_ARGS)
{
	Datum		args[5];
	char		nulls[5];
	bool		placed;

	batch_args(fcinfo, args, nulls);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("placed must not be null"));
	placed = PG_GETARG_BOOL(4);
	args[4] = BoolGetDatum(placed);
	nulls[4] = ' ';

	AlConnect();
	if (AlExecute(AL_STMT_CLAIM_BATCH, args, nulls, 0).n == 0)
	{
		AlResult	claim = AlExecute(AL_STMT_LOCATE_BATCH, args, NULL, 1);

		if (!placed || !same_sku(claim, DatumGetTextPP(args[1])))
			AlBatchExists(DatumGetTextPP(args[0]));
		AlFree(claim);
	}
	AlFinish();
	PG_RETURN_VOID();
}

/*
 * allocation.batch_locate(ref text) RETURNS text
 *
 * The sku a batch reference was claimed for; AL002 when none claimed it.
 */
PG_FUNCTION_INFO_V1(allocation_batch_locate);
Datum
allocation_batch_locate(PG_FUNCTION_ARGS)
{
	text	   *ref = AlIdentifierArg(fcinfo, 0, "ref");
	Datum		args[1] = {PointerGetDatum(ref)};
	AlResult	claim;
	text	   *sku;

	AlConnect();
	claim = AlExecute(AL_STMT_LOCATE_BATCH, args, NULL, 1);
	if (claim.n == 0)
		ereport(ERROR,
				errcode(ERRCODE_AL_UNKNOWN_BATCH),
				errmsg("unknown batch \"%s\"", text_to_cstring(ref)));
	sku = AlReturnText(AlTextCopy(claim, 0, 1));
	AlFree(claim);
	AlFinish();
	PG_RETURN_TEXT_P(sku);
}

/*
 * allocation.batch_placed(ref text) RETURNS void
 *
 * Marks a claim placed: its batch exists on its sku's shard.
 */
PG_FUNCTION_INFO_V1(allocation_batch_placed);
Datum
allocation_batch_placed(PG_FUNCTION_ARGS)
{
	Datum		args[1] = {PointerGetDatum(AlIdentifierArg(fcinfo, 0, "ref"))};

	AlConnect();
	AlFree(AlExecute(AL_STMT_MARK_BATCH_PLACED, args, NULL, 0));
	AlFinish();
	PG_RETURN_VOID();
}

/*
 * allocation.batch_place(ref text, sku text, qty integer, eta date)
 * RETURNS void
 *
 * add_batch for a claimed reference, on its sku's shard: a no-op when the
 * batch exists for that sku already (the router, or recover(), placed it
 * before); 23505 when the reference exists for another sku.
 */
PG_FUNCTION_INFO_V1(allocation_batch_place);
Datum
allocation_batch_place(PG_FUNCTION_ARGS)
{
	Datum		args[4];
	char		nulls[4];
	AlResult	found;

	batch_args(fcinfo, args, nulls);
	AlConnect();
	found = AlExecute(AL_STMT_PLACED_BATCH, args, NULL, 1);
	if (found.n > 0)
	{
		if (!same_sku(found, DatumGetTextPP(args[1])))
			AlBatchExists(DatumGetTextPP(args[0]));
	}
	else
	{
		AlFree(AlExecute(AL_STMT_INSERT_PRODUCT, &args[1], NULL, 0));
		if (AlExecute(AL_STMT_INSERT_BATCH, args, nulls, 0).n == 0)
			AlBatchExists(DatumGetTextPP(args[0]));
	}
	AlFree(found);
	AlFinish();
	PG_RETURN_VOID();
}

/*
 * allocation.batch_claims_pending()
 * RETURNS TABLE (ref text, sku text, qty integer, eta date)
 *
 * The claims whose batch a router has not marked placed, oldest first.
 */
PG_FUNCTION_INFO_V1(allocation_batch_claims_pending);
Datum
allocation_batch_claims_pending(PG_FUNCTION_ARGS)
{
	AlMaterialize(fcinfo, AL_STMT_PENDING_CLAIMS, NULL);
	return (Datum) 0;
}

/*
 * allocation.batch_references() RETURNS TABLE (ref text, sku text)
 *
 * Every batch of this shard with its sku, in byte order of reference: for
 * a router to claim the batches that existed before it kept a directory.
 */
PG_FUNCTION_INFO_V1(allocation_batch_references);
Datum
allocation_batch_references(PG_FUNCTION_ARGS)
{
	AlMaterialize(fcinfo, AL_STMT_BATCH_REFERENCES, NULL);
	return (Datum) 0;
}
