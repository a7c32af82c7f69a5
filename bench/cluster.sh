#!/usr/bin/env bash
# Shared by the bench/ scripts: builds pipeline, installs it into a private
# copy of the PostgreSQL tree (like test/run) and starts a throwaway cluster
# in a temp directory as an unprivileged user.  Source it; it exports
# PGHOST/PGPORT/PGDATABASE and registers a trap that stops the cluster.
#
# As root it reruns the calling script as user pipeline_test (initdb refuses
# root), on a copy of the tree.  BENCH_CONF: more postgresql.conf lines
# (e.g. BENCH_CONF="huge_pages = off", to compare a setting on one build).
set -euo pipefail

bench_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$(id -u)" = 0 ]; then
	id pipeline_test >/dev/null 2>&1 || useradd --system --create-home pipeline_test
	work=$(mktemp -d /tmp/pipeline-bench.XXXXXX)
	(cd "$bench_src" && tar --exclude=./tmp_install --exclude=./tmp_check --exclude=./results \
		--exclude='*.o' --exclude='*.so' -cf - .) | (cd "$work" && tar -xf -)
	chown -R pipeline_test "$work"
	rel=${0#"$bench_src"/}
	set +e
	runuser -u pipeline_test -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp \
		LANG=C.UTF-8 ${BENCH_EXPLAIN:+BENCH_EXPLAIN=$BENCH_EXPLAIN} \
		${BENCH_NO_INDEX:+BENCH_NO_INDEX=$BENCH_NO_INDEX} ${BENCH_VIEW:+BENCH_VIEW=$BENCH_VIEW} \
		${BENCH_CONF:+BENCH_CONF="$BENCH_CONF"} "$work/$rel" "$@"
	rc=$?
	rm -rf "$work"
	exit $rc
fi

pgbin=$(pg_config --bindir)
pgshare=$(pg_config --sharedir)
inst="$bench_src/tmp_install"
(cd "$bench_src" && make -s clean >/dev/null && make -s >/dev/null)
if [ ! -x "$inst$pgbin/postgres" ]; then
	mkdir -p "$inst$(dirname "$pgbin")" "$inst$(dirname "$pgshare")"
	cp -a "$(dirname "$pgbin")" "$inst$(dirname "$(dirname "$pgbin")")/"
	cp -a "$pgshare" "$inst$(dirname "$pgshare")/"
fi
(cd "$bench_src" && make -s install DESTDIR="$inst" >/dev/null)
export PATH="$inst$pgbin:$PATH"

bench_data=$(mktemp -d /tmp/pipeline-bench-data.XXXXXX)
initdb -D "$bench_data/db" -A trust -U postgres >/dev/null
cat >>"$bench_data/db/postgresql.conf" <<CONF
shared_preload_libraries = 'pipeline'
pipeline.enabled = off
listen_addresses = ''
unix_socket_directories = '$bench_data'
port = 5499
shared_buffers = 256MB
max_wal_size = 4GB
fsync = on
${BENCH_CONF:-}
CONF
pg_ctl -D "$bench_data/db" -l "$bench_data/log" -w start >/dev/null
bench_stop() { pg_ctl -D "$bench_data/db" -m fast stop >/dev/null 2>&1 || true; rm -rf "$bench_data"; }
trap bench_stop EXIT
export PGHOST="$bench_data" PGPORT=5499 PGUSER=postgres PGDATABASE=postgres
psql -qX -c "CREATE EXTENSION pipeline"
