/*-------------------------------------------------------------------------
 *
 * src/allocation.h
 *		The map of the allocation extension: error codes, limits, and the
 *		functions each file offers the files above it.
 *
 * The files form layers, each calling only the ones below it:
 *
 *	entry points	allocate.c orders.c holds.c batches.c read.c commands.c
 *					decisions.c directory.c stream.c retention.c
 *	the aggregate	stock.c (placing lines and holds by the rule)
 *					product.c (locks, clock, version, lock order)
 *	foundations		events.c, plans.c, schema.c, allocation.c
 *
 * One entry point calls another: orders.c begins and decides a router's
 * attempt at an order through decisions.c, in the call that holds,
 * confirms or allocates its lines.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ALLOCATION_H
#define ALLOCATION_H

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"			/* IWYU pragma: export */
#include "storage/lock.h"
#include "utils/elog.h"
#include "utils/portal.h"

/* The extension version whose objects the library's statements use. */
#define AL_LIBRARY_VERSION "1.5"

/* Our own SQLSTATEs, class AL ("allocation"). */
#define ERRCODE_AL_INVALID_SKU		MAKE_SQLSTATE('A','L','0','0','1')
#define ERRCODE_AL_UNKNOWN_BATCH	MAKE_SQLSTATE('A','L','0','0','2')
#define ERRCODE_AL_QTY_MISMATCH		MAKE_SQLSTATE('A','L','0','0','3')
#define ERRCODE_AL_HOLD_NOT_LIVE	MAKE_SQLSTATE('A','L','0','0','4')

/*
 * Identifiers (sku, batch reference, order id, hold id) are at most this
 * many characters, as in the book's schema.  The bound keeps an order line's
 * key within a btree entry and every event payload within a NOTIFY payload.
 */
#define AL_MAX_IDENTIFIER_CHARS 255

/* The longest a hold may last (ttl), in microseconds: one day. */
#define AL_MAX_HOLD_USECS USECS_PER_DAY

/* Expired holds a call on holds reclaims at most, per product it locks. */
#define AL_RECLAIM_PER_CALL 16

/* in allocation.c */
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
extern text *AlReturnText(text *value);
/* PostgreSQL 18 spells "does not return" before the declaration */
#if PG_VERSION_NUM >= 180000
pg_noreturn extern void AlBatchExists(text *ref);
#else
extern void AlBatchExists(text *ref) pg_attribute_noreturn();
#endif
extern void AlCommitWithoutFlush(void);

/* in schema.c */
extern void AlCheckSchema(void);

/* in plans.c */
typedef enum AlStatementId
{
	/* products and batches */
	AL_STMT_LOCK_PRODUCT,
	AL_STMT_INSERT_PRODUCT,
	AL_STMT_INSERT_BATCH,
	AL_STMT_BATCH_SKU,
	AL_STMT_BATCH_QUANTITIES,
	AL_STMT_SET_BATCH_QUANTITIES,
	AL_STMT_SET_VERSION,
	/* order lines */
	AL_STMT_ALLOCATE,
	AL_STMT_DEALLOCATE,
	AL_STMT_FIND_LINE,
	AL_STMT_INSERT_LINE,
	AL_STMT_DELETE_LINE,
	AL_STMT_SHORT_LINES,
	/* holds */
	AL_STMT_FIND_HOLD,
	AL_STMT_PLACE_HOLD,
	AL_STMT_INSERT_HOLD,
	AL_STMT_DELETE_HOLD,
	AL_STMT_HOLD_SKUS,
	AL_STMT_HOLD_LINES,
	AL_STMT_CONFIRM_HOLD_LINE,
	AL_STMT_RELEASE_HOLD_LINE,
	AL_STMT_ANY_EXPIRED,
	AL_STMT_RECLAIM_EXPIRED,
	AL_STMT_RECLAIM_ON_BATCH,
	/* batches that change size */
	AL_STMT_ADJUST_BATCH,
	AL_STMT_BATCH_HELD,
	AL_STMT_RECENT_ON_BATCH,
	AL_STMT_BATCH_ROOM,
	/* the outbox and the read side */
	AL_STMT_RECORD_OUT_OF_STOCK,
	AL_STMT_RECORD_HELD,
	AL_STMT_RECORD_RELEASED,
	AL_STMT_ORDER_ALLOCATIONS,
	AL_STMT_CHECK,
	AL_STMT_PRUNE_EVENTS,
	AL_STMT_PRUNE_INBOX,
	/* the event stream */
	AL_STMT_SLOT,
	AL_STMT_CREATE_SLOT,
	AL_STMT_DROP_SLOT,
	AL_STMT_PUBLICATION,
	AL_STMT_CREATE_PUBLICATION,
	AL_STMT_DROP_PUBLICATION,
	AL_STMT_OTHER_STREAM_SLOTS,
	/* the inbox of commands */
	AL_STMT_CLAIM_REQUEST,
	AL_STMT_FIND_REQUEST,
	AL_STMT_RECORD_RESULT,
	AL_STMT_COMMAND_ADD_BATCH,
	AL_STMT_COMMAND_ALLOCATE,
	AL_STMT_COMMAND_DEALLOCATE,
	AL_STMT_COMMAND_CHANGE_BATCH_QUANTITY,
	AL_STMT_COMMAND_HOLD,
	AL_STMT_COMMAND_CONFIRM_HOLD,
	AL_STMT_COMMAND_RELEASE_HOLD,
	/* what routers keep on their shards */
	AL_STMT_PENDING_DECISION,
	AL_STMT_RECORD_DECISION,
	AL_STMT_SET_DECISION,
	AL_STMT_PENDING_DECISIONS,
	AL_STMT_CLAIM_BATCH,
	AL_STMT_LOCATE_BATCH,
	AL_STMT_MARK_BATCH_PLACED,
	AL_STMT_PENDING_CLAIMS,
	AL_STMT_PLACED_BATCH,
	AL_STMT_BATCH_REFERENCES,
	AL_STMT_COUNT
} AlStatementId;

/*
 * The rows a statement returned, passed from AlExecute to whoever reads
 * them, and freed with AlFree.  An empty result holds no table.
 */
typedef struct AlResult
{
	SPITupleTable *tuptable;
	uint64		n;
} AlResult;

extern void AlPlannerInit(void);
extern AlResult AlExecute(AlStatementId id, Datum *values, const char *nulls, long tcount);
extern Datum AlValue(AlResult result, uint64 row, int column, bool *isnull);
extern text *AlTextCopy(AlResult result, uint64 row, int column);
extern void AlFree(AlResult result);
extern Portal AlOpenCursor(AlStatementId id, Datum *values);
extern AlResult AlFetch(Portal portal, long count);
extern void AlCloseCursor(Portal portal);

/* in events.c */
extern void AlRecordOutOfStock(text *sku);
extern void AlRecordHeld(text *holdid, text *sku, int32 qty, text *batchref,
						 TimestampTz expires_at);
extern void AlRecordReleased(text *holdid, text *sku, int32 qty, const char *reason);
extern void AlNotify(const char *event, Datum payload);

/* in product.c */
extern void AlLockTag(LOCKTAG *tag, text *key, uint64 seed, uint16 field4, LOCKMETHODID method);
typedef struct AlOrderLine
{
	text	   *sku;
	int32		qty;
	bool		held;			/* the order has the line already */
	int64		version;		/* the product's version, read under its lock */
	text	   *batchref;		/* the answer: the batch, or NULL */
} AlOrderLine;

extern int64 AlLockProduct(text *sku, bool queue);
extern void AlLockProducts(AlOrderLine *lines, int nlines);
extern void AlLockHold(text *holdid, bool exclusive);
extern TimestampTz AlClock(void);
extern Datum allocation_clock(PG_FUNCTION_ARGS);
extern int64 AlNextVersion(text *sku, int64 version);
extern void AlBumpVersion(text *sku, int64 version);
extern int	AlCompareBytes(const text *x, const text *y);
extern AlOrderLine *AlSkusArg(FunctionCallInfo fcinfo, int argno, const char *argname, int *nskus);
extern int	AlSortLines(AlOrderLine *lines, int nlines, bool skip_duplicates);

/* in stock.c */
extern void AlCheckLineQty(text *orderid, text *sku, int32 line_qty, int32 qty);
extern void AlCheckHoldQty(text *holdid, text *sku, int32 held_qty, int32 qty);
extern bool AlFindLine(text *orderid, text *sku, int32 qty, text **batchref);
extern text *AlLineBatch(text *orderid, text *sku);
extern bool AlFindHold(text *holdid, text *sku, int32 qty, int64 ttl_usecs, TimestampTz now,
					   text **batchref, TimestampTz *expires_at);
extern text *AlPlaceLine(text *orderid, text *sku, int32 qty, int64 version, TimestampTz now);
extern text *AlFreeLine(text *orderid, text *sku, int64 version);
extern text *AlPlaceHold(text *holdid, text *sku, int32 qty, TimestampTz expires_at,
						 int64 version, TimestampTz now);
extern void AlInsertLine(text *orderid, text *sku, int32 qty, text *batchref);
extern void AlInsertHold(text *holdid, text *sku, int32 qty, text *batchref,
						 TimestampTz expires_at, TimestampTz now);
extern void AlAdjustBatch(text *batchref, int32 allocated, int32 held, TimestampTz now);
extern void AlSettleBatch(text *batchref, int32 room, TimestampTz now);
extern void AlReclaimExpired(text *sku, TimestampTz now);
extern bool AlShortLines(AlOrderLine *lines, int nlines, int nnew, TimestampTz now);

/* in holds.c */
typedef struct AlHoldLine
{
	text	   *sku;
	int32		qty;
	text	   *batchref;
	TimestampTz expires_at;
	text	   *orderid;		/* the order it was confirmed into, or NULL */
	int64		version;		/* its product's version, read under its lock */
} AlHoldLine;

extern int	AlLockHoldLines(text *holdid, AlOrderLine *extra, int nextra, AlHoldLine **lines,
							TimestampTz *now);
extern bool AlConfirmHold(text *holdid, text *orderid, AlHoldLine *lines, int nlines,
						  TimestampTz now);

/* in decisions.c */
extern void AlBeginAttempt(FunctionCallInfo fcinfo, text *orderid, text *holdid, int skus_arg);
extern void AlCheckDecision(FunctionCallInfo fcinfo, text *orderid, int skus_arg);
extern void AlTakeOrder(FunctionCallInfo fcinfo, text *orderid, text *holdid, int skus_arg);
extern void AlDecide(text *orderid, text *holdid, Datum skus, Datum qtys);
extern void AlGiveBackOrder(void);

/* in read.c */
extern void AlMaterialize(FunctionCallInfo fcinfo, AlStatementId id, Datum *args);

#endif							/* ALLOCATION_H */
