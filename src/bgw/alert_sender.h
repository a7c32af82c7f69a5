/*-------------------------------------------------------------------------
 * alert_sender.h
 *	  The process that POSTs alerts to pipeline.alert_endpoint.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_ALERT_SENDER_H
#define PIPELINE_ALERT_SENDER_H

#include "postmaster/bgworker.h"

/* Starts the alert sender of database dboid; false when no slot is free. */
extern bool alert_sender_start(Oid dboid, BackgroundWorkerHandle **handle);

PGDLLEXPORT void pipeline_alert_sender_main(Datum main_arg);

#endif							/* PIPELINE_ALERT_SENDER_H */
