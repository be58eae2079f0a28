/* Types of the window commands (window.h): a command run once around the
 * rollout's window, outside any node's steps. */
#ifndef ZDU_WINDOW_T_H
#define ZDU_WINDOW_T_H

struct zdu_window_cmd {
	const char *step;        /* step name in the output and the journal: "before", "after" */
	const char *scope;       /* the journal's node: "" for the whole plan */
	const char *key;         /* the plan key, for messages: "before_command" */
	const char *timeout_key; /* "timeouts.before_ms" */
	const char *command;     /* as in the plan ("" : none) */
	int timeout_ms;
	const char *after_fail;  /* what stays as it is when it fails, for the "next" line */
	char keybuf[112];        /* key's text for a service's command */
	char scopebuf[72];       /* scope's text for a service's command */
};

#endif
