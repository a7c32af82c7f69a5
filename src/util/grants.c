/*-------------------------------------------------------------------------
 * grants.c
 *	  Privileges on a relation pipeline made for its owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "util/grants.h"
#include "util/runas.h"
#include "util/spi_rows.h"

void
revoke_granted(Oid role, Oid relid, const char *qname)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	SpiRows    *rows;

	/*
	 * not read-only: a relation made in this statement must be seen; only
	 * grantees that are there (a REVOKE writes the owner's default rights
	 * into an ACL that had none)
	 */
	rows = spi_rows(role,
					"SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c, "
					"       pg_catalog.aclexplode(c.relacl) a "
					" WHERE c.oid OPERATOR(pg_catalog.=) $1 "
					"   AND a.grantee OPERATOR(pg_catalog.<>) c.relowner ORDER BY 1",
					1, argtypes, values, NULL, false, SPI_OK_SELECT);
	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));

		runas_ddl(role, psprintf("REVOKE ALL ON TABLE %s FROM %s", qname,
								 OidIsValid(grantee) ?
								 quote_identifier(GetUserNameFromId(grantee, false)) : "PUBLIC"));
	}
}
