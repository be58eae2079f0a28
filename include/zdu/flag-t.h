/* Types of the maintenance flag, shared by the agent, the CLI and the
 * coordinator (which sets flags remotely). */
#ifndef ZDU_FLAG_T_H
#define ZDU_FLAG_T_H

#define ZDU_FLAG_MAX_BYTES 4096 /* a flag file larger than this is refused */
#define ZDU_REASON_MAX 160      /* reasons are cut to fit one reply line */

enum zdu_flag_mode {
	ZDU_FLAG_OFF = 0, /* no maintenance */
	ZDU_FLAG_DRAIN,   /* reply "drain": no new sessions, existing ones finish */
	ZDU_FLAG_MAINT,   /* reply "maint": no traffic at all */
	ZDU_FLAG_LB,      /* leave the administrative state to the load balancer:
	                   * the reply carries only the operational token and weight,
	                   * so a runtime-API switch is not undone at the next probe */
};

struct zdu_flag {
	enum zdu_flag_mode mode;
	char reason[ZDU_REASON_MAX];
	char since[32]; /* when it was set, UTC, informational only */
	char by[64];    /* who set it (user@host), informational only */
	/* Non-empty when the flag exists but could not be understood; the mode
	 * is then DRAIN (fail safe) and this says why. */
	char error[192];
};

#endif
