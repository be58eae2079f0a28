/* Types of zdu-coordinator's entry point (coordinator.h): its exit codes
 * and its options. A rollout in progress is coordinator-int.h's. */
#ifndef ZDU_COORDINATOR_T_H
#define ZDU_COORDINATOR_T_H

/* Exit codes, documented in zdu-coordinator(8). */
enum zdu_coord_exit {
	ZDU_COORD_OK = 0,
	ZDU_COORD_FAILED = 1,  /* a step failed; the rollout stopped safely */
	ZDU_COORD_USAGE = 2,   /* command line or plan error */
	ZDU_COORD_TIMEOUT = 3, /* a wait ran out of time */
	ZDU_COORD_REFUSED = 4, /* a preflight check refused */
	ZDU_COORD_LOCKED = 5,  /* another coordinator runs this plan */
};

struct zdu_coord_opts {
	int dry_run;
	int resume;
	int json;
	const char *plan_path;
	const char *textfile_dir; /* --textfile-dir: the progress for node_exporter (NULL: none) */
};

#endif
