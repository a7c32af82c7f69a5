# pipeline: PGXS build.
#
# The current version's install script is assembled from sql/install/*.sql
# (one fragment per concern, applied in name order).  Each released version
# keeps its full script, frozen, as pipeline--X.sql, and every step has an
# upgrade script pipeline--X--Y.sql (test: sql/upgrade.sql).  The pg_regress
# tests are every other sql/*.sql file, the isolation specs every
# specs/*.spec.  `test/run` builds, installs into a private tree and runs
# every test; see README.md.

EXTENSION = pipeline
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pipeline.control)

MODULE_big = pipeline
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))

INSTALL_FRAGMENTS = $(sort $(wildcard sql/install/*.sql))
DATA_built = pipeline--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard pipeline--*.sql))

REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-config=test/regress.conf
ISOLATION = $(sort $(basename $(notdir $(wildcard specs/*.spec))))
ISOLATION_OPTS = --temp-config=test/regress.conf

PG_CONFIG ?= pg_config
# the library knows which version of the SQL it serves (src/bgw/scheduler.c)
PG_CPPFLAGS = -I$(srcdir)/src -DPIPELINE_VERSION='"$(EXTVERSION)"'
PG_CFLAGS = -Wall -Wextra -Wmissing-prototypes -Wno-unused-parameter \
	-Wno-missing-field-initializers $(if $(WERROR),-Werror)
SHLIB_LINK = -lcurl

EXTRA_CLEAN = tmp_install tmp_check results regression.diffs regression.out \
	tmp_check_iso output_iso

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: an object built against an older
# struct layout would link silently.  Every header rebuilds every object.
$(OBJS): $(wildcard src/*.h src/*/*.h)

pipeline--$(EXTVERSION).sql: $(INSTALL_FRAGMENTS)
	cat $^ > $@

# Habits of the house (CONTRIBUTING.md, tools/README.md): `make format` lays
# out src/ as PostgreSQL 15's pgindent does, after regenerating
# typedefs.list; `make format-check` fails when that would change anything;
# `make lint` runs cppcheck.
.PHONY: format format-check lint
format:
	tools/typedefs.py --pg-config=$(PG_CONFIG) --output typedefs.list
	tools/pgindent.py src
format-check:
	PG_CONFIG=$(PG_CONFIG) tools/format-check
lint:
	tools/lint
