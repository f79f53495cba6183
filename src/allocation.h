/*-------------------------------------------------------------------------
 *
 * src/allocation.h
 *		The map of the allocation extension: error codes and the entry
 *		points each file offers the others.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLOCATION_H
#define ALLOCATION_H

#include "fmgr.h"
#include "utils/elog.h"

/* Our own SQLSTATEs, class AL ("allocation"). */
#define ERRCODE_AL_INVALID_SKU		MAKE_SQLSTATE('A','L','0','0','1')
#define ERRCODE_AL_UNKNOWN_BATCH	MAKE_SQLSTATE('A','L','0','0','2')
#define ERRCODE_AL_QTY_MISMATCH		MAKE_SQLSTATE('A','L','0','0','3')

/*
 * Identifiers (sku, batch reference, order id) are at most this many
 * characters, as in the book's schema.  The bound keeps an order line's key
 * within a btree entry and every event payload within a NOTIFY payload.
 */
#define AL_MAX_IDENTIFIER_CHARS 255

/* allocation.c */
extern bool AlNotifyEnabled;
extern void AlCheckIdentifier(text *value, const char *name);
extern void AlCheckQuantity(int32 value, const char *name, int32 minimum);
extern text *AlIdentifierArg(FunctionCallInfo fcinfo, int argno, const char *argname);
extern int32 AlQuantityArg(FunctionCallInfo fcinfo, int argno, const char *argname,
						   int32 minimum);
extern void AlArrayArg(FunctionCallInfo fcinfo, int argno, const char *argname,
					   Oid elemtype, Datum **elems, bool **nulls, int *nelems);
extern void AlConnect(void);
extern void AlFinish(void);

/* schema.c */
extern void AlCheckSchema(void);

/* plans.c */
typedef enum AlStatementId
{
	AL_STMT_LOCK_PRODUCT,
	AL_STMT_SET_VERSION,
	AL_STMT_INSERT_PRODUCT,
	AL_STMT_INSERT_BATCH,
	AL_STMT_BATCH_SKU,
	AL_STMT_BATCH_QUANTITIES,
	AL_STMT_SET_BATCH_QUANTITIES,
	AL_STMT_FIND_LINE,
	AL_STMT_PLACE_ON_BEST_BATCH,
	AL_STMT_INSERT_LINE,
	AL_STMT_DELETE_LINE,
	AL_STMT_RELEASE_FROM_BATCH,
	AL_STMT_TAKE_LATEST_LINE,
	AL_STMT_INSERT_EVENT,
	AL_STMT_ORDER_ALLOCATIONS,
	AL_STMT_SHORT_LINES,
	AL_STMT_CHECK,
	AL_STMT_COUNT
} AlStatementId;

extern uint64 AlExecute(AlStatementId id, Datum *values, const char *nulls, long tcount);
extern Datum AlValue(uint64 row, int column, bool *isnull);

/* allocate.c */
extern int64 AlLockProduct(text *sku);
extern void AlBumpVersion(text *sku, int64 version);
extern void AlCheckHeldQty(text *orderid, text *sku, int32 held_qty, int32 qty);
extern text *AlPlaceLine(text *orderid, text *sku, int32 qty);

/* read.c */
extern void AlMaterialize(FunctionCallInfo fcinfo, AlStatementId id, Datum *args);

/* events.c */
extern void AlRecordAllocated(text *orderid, text *sku, int32 qty, text *batchref);
extern void AlRecordDeallocated(text *orderid, text *sku, int32 qty);
extern void AlRecordOutOfStock(text *sku);

#endif							/* ALLOCATION_H */
