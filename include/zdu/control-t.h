/* Types of the control socket server (control.h): what a request is handed to. */
#ifndef ZDU_CONTROL_T_H
#define ZDU_CONTROL_T_H

#include "zdu/control_proto-t.h"

struct zdu_control_client;

struct zdu_control_handler {
	/* A valid request arrived: answer now or later with zdu_control_reply(). */
	void (*request)(struct zdu_control_client *c, const struct zdu_ctl_req *req, void *data);
	/* The client went away (or the server closes) before its answer: drop
	 * any reference to it. */
	void (*cancel)(struct zdu_control_client *c, void *data);
	void *data;
};

#endif
