/*-------------------------------------------------------------------------
 * settings.h
 *	  Settings shared by every module of the pipeline extension.
 *
 * Each module's own header is its public face; this one only holds the
 * configuration variables (GUCs) that _PG_init defines.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_H
#define PIPELINE_H

#define PIPELINE_SCHEMA "pipeline"

/* GUCs (pipeline.c) */
extern bool pipeline_enabled;
extern char *pipeline_databases;
extern int	pipeline_max_workers;
extern int	pipeline_tick_ms;
extern int	pipeline_worker_idle_timeout_ms;
extern int	pipeline_max_attempts;
extern int	pipeline_retry_backoff_s;
extern int	pipeline_run_retention_days;
extern int	pipeline_run_history_per_view;
extern int	pipeline_deleted_keys_retention_min;
extern int	pipeline_ingested_retention_min;
extern int	pipeline_rejected_retention_min;
extern double pipeline_differential_max_fraction;
extern int	pipeline_change_log_retention_min;

#endif							/* PIPELINE_H */
