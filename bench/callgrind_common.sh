# bench/callgrind_common.sh: sourced by the bench/callgrind_* scripts (run as
# root; a user pipeline_test must exist, test/run creates it).
#   callgrind_install TREE DEST: PostgreSQL's installation copied under DEST
#     and TREE's build of pipeline installed into it (make install DESTDIR);
#     the binaries are then $DEST$PGBIN/...
#   callgrind_initdb DEST DATA: a fresh data directory (trust) made by it.
#   as_test COMMAND...: runs a command as pipeline_test.
#   callgrind_single DEST DATA OUT: runs the SQL on standard input in
#     postgres --single on DATA (DEST's binaries, no library preloaded)
#     under callgrind, its profile written to OUT; prints the instructions.
PGBIN=$(pg_config --bindir)
as_test() { runuser -u pipeline_test -- "$@"; }
callgrind_install() {
	local tree=$1 dest=$2 share
	share=$(pg_config --sharedir)
	rm -rf "$dest"
	mkdir -p "$dest$(dirname "$PGBIN")" "$dest$(dirname "$share")"
	cp -a "$(dirname "$PGBIN")" "$dest$(dirname "$(dirname "$PGBIN")")/"
	cp -a "$share" "$dest$(dirname "$share")/"
	(cd "$tree" && make -s -j2 >/dev/null && make -s install DESTDIR="$dest" >/dev/null)
	chown -R pipeline_test "$dest"
}
callgrind_initdb() {
	rm -rf "$2"
	mkdir "$2" && chown pipeline_test "$2"
	as_test "$1$PGBIN/initdb" -D "$2" -A trust >/dev/null
}
callgrind_single() {
	as_test valgrind --tool=callgrind --callgrind-out-file="$3" "$1$PGBIN/postgres" --single -D "$2" \
		-c shared_preload_libraries= postgres 2>&1 >/dev/null | grep "I *refs" | tr -d ", " | cut -d: -f2
}
