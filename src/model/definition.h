/*-------------------------------------------------------------------------
 * definition.h
 *	  Checking a view's definition before anything is created.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DEFINITION_H
#define PIPELINE_DEFINITION_H

#include "model/dpl.h"

/* "mv_<name>": the relation name of a view called name. */
extern char *matview_relation_name(const char *name);

/*
 * Errors unless the definition can be created: the names are not empty, the
 * schema exists, the names fit, the interval is at least a second, and the
 * type and key agree.  Returns the schema's OID and sets *relname.  The one
 * validation of every path to a view: define(), create_matview(), check(),
 * stage() and apply_staged().
 */
extern Oid	definition_validate(const MatviewDefinition *def, char **relname);

/*
 * The same checks but the schema's, for a definition kept for later
 * (stage()): its schema is looked up when the definition is used.
 */
extern void definition_validate_fields(const MatviewDefinition *def);

/*
 * Sets def's refresh_mode and full_refresh_reason from the mode it asks
 * for, just before the view is created or replaced.  unsupported_reason is
 * why its query cannot be refreshed differentially (a lower-case phrase,
 * as pipeline.matviews shows it), or NULL when it can.  A view that is not
 * regular has none; full is full ("refresh mode is full"); auto is
 * differential when it can be, else full for that reason; differential
 * when it cannot be is an ERROR (SQLSTATE 0A000) naming the view as
 * view_name_for_errors, the reason in its DETAIL.
 */
extern void definition_resolve_refresh_mode(MatviewDefinition *def,
											const char *view_name_for_errors,
											const char *unsupported_reason);

#endif
