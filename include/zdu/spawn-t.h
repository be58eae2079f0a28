/* Types of the command runner (spawn.h): a run's result. */
#ifndef ZDU_SPAWN_T_H
#define ZDU_SPAWN_T_H

#include <stddef.h>
#include <stdint.h>

struct zdu_spawn_result {
	int64_t exit_status; /* -1 when killed by a signal or never started */
	int term_signal;
	int timed_out;       /* the time limit ended the run */
	const char *out;     /* stdout: its last whole lines, NUL-terminated */
	size_t out_len;
	const char *err;     /* stderr: the same */
	size_t err_len;
	const char *error;   /* why it could not run, or NULL */
};

#endif
