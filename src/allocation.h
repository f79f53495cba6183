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

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/portal.h"
#include "utils/elog.h"

/* The extension version whose objects the library's statements use. */
#define AL_LIBRARY_VERSION "1.2"

/* Our own SQLSTATEs, class AL ("allocation"). */
#define ERRCODE_AL_INVALID_SKU		MAKE_SQLSTATE('A','L','0','0','1')
#define ERRCODE_AL_UNKNOWN_BATCH	MAKE_SQLSTATE('A','L','0','0','2')
#define ERRCODE_AL_QTY_MISMATCH		MAKE_SQLSTATE('A','L','0','0','3')
#define ERRCODE_AL_HOLD_NOT_LIVE	MAKE_SQLSTATE('A','L','0','0','4')

/*
 * Identifiers (sku, batch reference, order id) are at most this many
 * characters, as in the book's schema.  The bound keeps an order line's key
 * within a btree entry and every event payload within a NOTIFY payload.
 */
#define AL_MAX_IDENTIFIER_CHARS 255

/* The longest a hold may last (ttl), in microseconds: one day. */
#define AL_MAX_HOLD_USECS USECS_PER_DAY

/*
 * The product lock queue (allocate.c): locktag_field4 of its "userlock"
 * locks ("AL"), and the seed of the sku hash that keys them.
 */
#define AL_LOCK_FIELD4 0x414C
#define AL_LOCK_HASH_SEED UINT64CONST(0x616c6c6f63617465)

/* Expired holds a call reclaims at most, per product it locks. */
#define AL_RECLAIM_PER_CALL 16

/* allocation.c */
extern bool AlNotifyEnabled;
extern int	AlClockOffsetSeconds;
extern void AlCheckIdentifier(text *value, const char *name);
extern void AlCheckQuantity(int32 value, const char *name, int32 minimum);
extern text *AlIdentifierArg(FunctionCallInfo fcinfo, int argno, const char *argname);
extern int32 AlQuantityArg(FunctionCallInfo fcinfo, int argno, const char *argname,
						   int32 minimum);
extern void AlArrayArg(FunctionCallInfo fcinfo, int argno, const char *argname,
					   Oid elemtype, Datum **elems, bool **nulls, int *nelems);
extern int64 AlTtlArg(FunctionCallInfo fcinfo, int argno, const char *argname);
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
	AL_STMT_BEST_BATCH,
	AL_STMT_INSERT_LINE,
	AL_STMT_DELETE_LINE,
	AL_STMT_RECENT_ON_BATCH,
	AL_STMT_BATCH_HELD,
	AL_STMT_BATCH_ROOM,
	AL_STMT_ADJUST_BATCH,
	AL_STMT_RECLAIM_ON_BATCH,
	AL_STMT_FIND_HOLD,
	AL_STMT_HOLD_EXPIRY,
	AL_STMT_INSERT_HOLD,
	AL_STMT_DELETE_HOLD,
	AL_STMT_CONFIRM_HOLD_LINE,
	AL_STMT_HOLD_SKUS,
	AL_STMT_HOLD_LINES,
	AL_STMT_RECLAIM_EXPIRED,
	AL_STMT_INSERT_EVENT,
	AL_STMT_ORDER_ALLOCATIONS,
	AL_STMT_SHORT_LINES,
	AL_STMT_CHECK,
	AL_STMT_PRUNE_EVENTS,
	AL_STMT_SLOT,
	AL_STMT_CREATE_SLOT,
	AL_STMT_DROP_SLOT,
	AL_STMT_PUBLICATION,
	AL_STMT_CREATE_PUBLICATION,
	AL_STMT_DROP_PUBLICATION,
	AL_STMT_OTHER_STREAM_SLOTS,
	AL_STMT_COUNT
} AlStatementId;

extern uint64 AlExecute(AlStatementId id, Datum *values, const char *nulls, long tcount);
extern Datum AlValue(uint64 row, int column, bool *isnull);
extern Portal AlOpenCursor(AlStatementId id, Datum *values);

/* allocate.c */
extern int64 AlLockProduct(text *sku, bool queue);
extern int64 AlTakeProduct(text *sku, TimestampTz *now, bool reclaim);
extern void AlBumpVersion(text *sku, int64 version);
extern void AlCheckHeldQty(text *orderid, text *sku, int32 held_qty, int32 qty);
extern text *AlPlaceLine(text *orderid, text *sku, int32 qty, TimestampTz now);
extern void AlInsertLine(text *orderid, text *sku, int32 qty, text *batchref);

/* holds.c */
extern TimestampTz AlClock(void);
extern Datum allocation_clock(PG_FUNCTION_ARGS);
extern void AlReclaimExpired(text *sku, TimestampTz now);
extern void AlAdjustBatch(text *batchref, int32 allocated, int32 held, TimestampTz now);
extern void AlSettleBatch(text *batchref, int32 room, TimestampTz now);
extern text *AlPlaceHold(text *holdid, text *sku, int32 qty, int64 ttl_usecs,
						 TimestampTz now);
extern void AlInsertHold(text *holdid, text *sku, int32 qty, text *batchref,
						 TimestampTz expires_at, TimestampTz now);
extern bool AlFindHold(text *holdid, text *sku, int32 qty, TimestampTz now, text **batchref);

/* orders.c */
typedef struct AlOrderLine
{
	text	   *sku;
	int32		qty;
	bool		held;			/* already allocated (or held) before this call */
	int64		version;		/* the product's version, read under its lock */
	text	   *batchref;		/* the answer: the batch, or NULL */
} AlOrderLine;

extern int	AlCompareBytes(const text *x, const text *y);
extern int	AlSortLines(AlOrderLine *lines, int nlines, bool skip_duplicates);

/* read.c */
extern void AlMaterialize(FunctionCallInfo fcinfo, AlStatementId id, Datum *args);

/* events.c */
extern void AlRecordAllocated(text *orderid, text *sku, int32 qty, text *batchref);
extern void AlRecordDeallocated(text *orderid, text *sku, int32 qty);
extern void AlRecordOutOfStock(text *sku);
extern void AlRecordHeld(text *holdid, text *sku, int32 qty, text *batchref,
						 TimestampTz expires_at);
extern void AlRecordReleased(text *holdid, text *sku, int32 qty, const char *reason);

#endif							/* ALLOCATION_H */
