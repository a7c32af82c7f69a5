/*-------------------------------------------------------------------------
 * unload.h
 *	  unload(): writing a query's rows as partitioned CSV files.
 *
 * Only the SQL-callable pipeline_unload() lives here; it is reached through
 * the install script.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_UNLOAD_H
#define PIPELINE_UNLOAD_H

#define UNLOAD_FORMAT_CSV "csv"

#endif
