/*-------------------------------------------------------------------------
 * ingest.h
 *	  Exactly-once ingestion of JSON messages into a table:
 *	  pipeline.ingest().
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_INGEST_H
#define PIPELINE_INGEST_H

#include "postgres.h"
#include "utils/jsonb.h"

/* What one call did with its messages */
typedef struct IngestCounts
{
	int32		accepted;
	int32		duplicates;
	int32		rejected;
} IngestCounts;

/*
 * Inserts the messages (a JSON array of objects) into target, skipping the
 * ones whose dedup_key value was already ingested into target (recorded in
 * pipeline.ingested) and sending the ones that fail validation to
 * pipeline.rejected.  Needs a transaction; connects to SPI itself; inserts
 * run as the calling user, the bookkeeping as the catalog owner.
 */
extern IngestCounts ingest_messages(Oid target, Jsonb *messages, const char *dedup_key);

#endif
