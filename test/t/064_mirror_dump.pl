# pg_dump keeps a mirror: its definition with its DPL keys (options), its
# table with the primary key, its mark, first consumed key and their type,
# and its remembered deletes with their types.  After a restore the mirror applies only the events
# above its mark, and an older change of a deleted key stays out.  A lake
# publication over it keeps its manifest and what it published: the
# restored one writes nothing until a partition changes.  Its delete
# function and the mirror's after-refresh hook, kept by OID, name the
# restored functions, which the guard keeps from being dropped (1.11).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
chmod 0777, $tmp;
my $node = PipelineNode->start_new('mirror_dump', qq{
pipeline.enabled = off
timezone = 'UTC'
});

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION pipeline;
CREATE TABLE cart_events (stream_offset bigserial PRIMARY KEY, seq bigint, op text, id int, price numeric);
SELECT pipeline.define($d$/**
 * @matview-schema public
 * @matview-name cart
 * @matview-type mirror
 * @incremental-key stream_offset
 * @mirror-keys id
 * @mirror-sequence seq
 * @mirror-delete-value X
 * @interval-in-minutes 1
 */
SELECT stream_offset, seq, op, id, price FROM public.cart_events$d$);
INSERT INTO cart_events (seq, op, id, price) VALUES (1, 'I', 1, 10), (1, 'I', 2, 20), (2, 'U', 1, 11),
                                                    (5, 'X', 2, NULL);
SELECT status FROM pipeline.refresh('mv_cart');
});
$node->safe_psql('src', qq{
CREATE TABLE calls (what text);
CREATE FUNCTION note_delete(path text) RETURNS boolean LANGUAGE sql
AS \$\$ INSERT INTO public.calls VALUES ('delete ' || path) RETURNING true \$\$;
CREATE FUNCTION note_refresh(m regclass, t timestamptz) RETURNS void LANGUAGE sql
AS \$\$ INSERT INTO public.calls VALUES ('refreshed ' || m::text) \$\$;
SELECT pipeline.create_matview('public', 'cart_lake', 'SELECT id, price, seq FROM public.mv_cart', '1 hour', 'unload',
                               options => '{"unload-destination": "$tmp/lake", "unload-partition-by": "seq",
                                            "unload-delete-function": "note_delete"}');
SELECT pipeline.set_after_refresh('mv_cart', 'note_refresh');
});

my %q = (
	definition => q{SELECT string_agg(concat_ws('|', matview_type, incremental_key, options, query), ' ' ORDER BY name) FROM pipeline.matview_definitions},
	state => q{SELECT high_water, first_key, key_type FROM pipeline.incremental_state},
	lake_rows => q{SELECT count(*) FROM mv_cart_lake},
	rows => q{SELECT string_agg(format('%s', c), ' ' ORDER BY id) FROM mv_cart c},
	key => q{SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'mv_cart'::regclass},
	deleted => q{SELECT target::text, key, sequence FROM pipeline.deleted_keys},
	memory_types => q{SELECT target::text, key_types, sequence_types FROM pipeline.deleted_keys_targets},
	manifest => q{SELECT string_agg(partition || ':' || rows || ':' || array_to_string(files, ','), ' ' ORDER BY partition) FROM mv_cart_lake},
	published => q{SELECT string_agg(partition || ':' || digest, ' ' ORDER BY partition) FROM pipeline.publication_state},
	functions => q{SELECT string_agg(name || ':' || coalesce(delete_function::text, '-'), ' ' ORDER BY name) FROM pipeline.matview_definitions},
	hooks => q{SELECT string_agg(matview::text || ':' || fn::text, ' ') FROM pipeline.after_refresh_hooks},
);
my %before = map { $_ => $node->safe_psql('src', $q{$_}) } keys %q;
is($before{rows}, '(2,1,11)', 'the mirror before the dump');
is($before{deleted}, 'mv_cart|2|5', 'its remembered delete');
is($before{memory_types}, 'mv_cart|{integer}|{bigint}', 'the types it is written from (1.28)');
is($before{state}, '4|1|bigint', 'its mark, first key and their type (1.28)');
is($before{functions}, 'cart:- cart_lake:note_delete(text)', 'the delete function, by OID');
is($before{hooks}, 'mv_cart:note_refresh(regclass,timestamp with time zone)', 'the hook, by OID');

$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/src.dump", '-d', 'src' ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', "$tmp/src.dump" ],
	'pg_restore into a fresh database');
for my $what (sort keys %q)
{
	is($node->safe_psql('restored', $q{$what}), $before{$what}, "restored: the same $what");
}

# the restore is a copy beside src, whose publication holds the tree: its
# runs are refused until the file saying so goes (README, "pg_dump")
my (undef, undef, $copy_err) = $node->psql('restored', q{SELECT status FROM pipeline.refresh('mv_cart_lake')});
like($copy_err, qr/overlaps a lake publication of database "src"/, 'restored: the tree is src\'s');
unlink("$tmp/lake/.pipeline-publication") or die "unlink: $!";
like($node->safe_psql('restored', q{SELECT status || ' ' || rows FROM pipeline.refresh('mv_cart_lake')}),
	qr/^succeeded 0$/, 'restored: the publication writes nothing while nothing changed');

# above the mark only; the late update of the deleted key stays out
is( $node->safe_psql('restored', q{
		INSERT INTO cart_events (seq, op, id, price) VALUES (4, 'U', 2, 21), (3, 'U', 1, 12), (1, 'I', 3, 30);
		SELECT status || ' ' || rows FROM pipeline.refresh('mv_cart', false);
		SELECT string_agg(format('%s', c), ' ' ORDER BY id) FROM mv_cart c;}),
	"succeeded 2\n(3,1,12) (1,3,30)", 'the restored mirror goes on from its mark');

# the restored functions are the ones called, by OID, and held
like( $node->safe_psql('restored', q{
		TRUNCATE calls;
		ALTER FUNCTION note_delete(text) RENAME TO note_lake_delete;
		SELECT status FROM pipeline.refresh('mv_cart');
		SELECT string_agg(what, ', ' ORDER BY what) FROM calls;}),
	qr/^succeeded\nsucceeded\ndelete seq=\d+(, delete seq=\d+)*, refreshed mv_cart$/,
	'restored: the hook and the renamed delete function are called');
my ($rc, $out, $err) = $node->psql('restored', 'DROP FUNCTION note_lake_delete(text)');
like($err, qr/cannot drop function public.note_lake_delete\(pg_catalog.text\) because managed views call it/,
	'restored: the delete function cannot be dropped');
($rc, $out, $err) = $node->psql('restored', 'DROP FUNCTION note_refresh(regclass, timestamptz)');
like($err, qr/is the after-refresh hook of public.mv_cart\./, 'restored: nor the hook');

$node->stop;
done_testing();
