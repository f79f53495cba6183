# Makefile for the allocation extension (PGXS).
#
#   make && make install     build and install into the server named by pg_config
#                            (the extension, and bus/: allocation-relay and
#                            allocation-consumer into its bindir)
#   make installcheck        regress, isolation and TAP suites against a running server
#   make check-bus           the bus programs' unit tests
#   make demo / make test    the README's two commands (throwaway cluster, as root)
#   make bench               the benchmark suite (QUICK=1 for a short run)

EXTENSION = allocation
MODULE_big = allocation
OBJS = \
	src/allocate.o \
	src/allocation.o \
	src/batches.o \
	src/commands.o \
	src/decisions.o \
	src/directory.o \
	src/events.o \
	src/holds.o \
	src/orders.o \
	src/plans.o \
	src/product.o \
	src/read.o \
	src/retention.o \
	src/schema.o \
	src/stock.o \
	src/stream.o
DATA = \
	allocation--1.0.sql \
	allocation--1.0--1.1.sql \
	allocation--1.1.sql \
	allocation--1.1--1.2.sql \
	allocation--1.2.sql \
	allocation--1.2--1.3.sql \
	allocation--1.3.sql \
	allocation--1.3--1.4.sql \
	allocation--1.4.sql \
	allocation--1.4--1.5.sql \
	allocation--1.5.sql \
	router/allocation_router.control \
	router/allocation_router--1.0.control \
	router/allocation_router--1.0.sql \
	router/allocation_router--1.0--1.1.sql \
	router/allocation_router--1.1.sql \
	router/allocation_router--1.1--1.2.sql \
	router/allocation_router--1.2.sql \
	router/allocation_router--1.2--1.3.sql \
	router/allocation_router--1.3.sql
PGFILEDESC = "allocation - stock allocation inside PostgreSQL"

REGRESS = setup batches product handlers views api unit_of_work orders check holds events commands router_support errors hostile security shadowing takeover collation upgrade no_leaks
REGRESS_OPTS = --inputdir=. --load-extension=allocation
ISOLATION = rc_same_sku rr_same_sku two_skus notify_after_commit order_lock_order hold_expiry lock_queue hold_confirm_race inbox_twice order_lock order_place_race
ISOLATION_OPTS = --load-extension=allocation
TAP_TESTS ?= 1
PROVE_TESTS = t/*.pl router/t/*.pl

PG_CONFIG ?= pg_config
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): src/allocation.h

# The bus programs are ordinary clients (libpq, hiredis, libcurl), built by
# their own Makefile in a bus/ folder of the build tree.
BUS_MAKE = $(MAKE) -C bus -f $(abspath $(srcdir))/bus/Makefile VPATH=$(abspath $(srcdir))/bus \
	PG_CONFIG=$(PG_CONFIG) EXTRA_CFLAGS="$(PG_CFLAGS)"
.PHONY: bus install-bus check-bus clean-bus
all: bus
bus:
	@mkdir -p bus
	$(BUS_MAKE)
install: install-bus
install-bus: bus
	$(BUS_MAKE) install
check-bus: bus
	$(BUS_MAKE) check
clean: clean-bus
clean-bus:
	$(BUS_MAKE) clean

# Debian's pg_buildext builds in build-<version>/ with VPATH: objects go to
# a src/ folder there.
ifdef VPATH
$(shell mkdir -p src)
endif

.PHONY: demo test bench
demo:
	bash scripts/demo
test:
	bash scripts/test
bench:
	bash bench/run
