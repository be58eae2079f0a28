/* Types of the control socket's protocol (control_proto.h): the request line, parsed. */
#ifndef ZDU_CONTROL_PROTO_T_H
#define ZDU_CONTROL_PROTO_T_H

#include "zdu/flag-t.h"

#define ZDU_CTL_LINE_MAX 1024

enum zdu_ctl_cmd {
	ZDU_CTL_STATUS,
	ZDU_CTL_SYNC,
	ZDU_CTL_WAIT_DRAINED,
	ZDU_CTL_PING,
	ZDU_CTL_SET_FLAG,
	ZDU_CTL_CLEAR_FLAG,
	ZDU_CTL_SET_ETCD_FLAG,
	ZDU_CTL_CLEAR_ETCD_FLAG,
};

struct zdu_ctl_req {
	enum zdu_ctl_cmd cmd;
	long long arg_ms;          /* wait-drained */
	enum zdu_flag_mode mode;   /* set-flag, set-etcd-flag */
	char reason[ZDU_REASON_MAX]; /* set-flag, set-etcd-flag */
	char service[64];          /* "": the node */
};

#endif
