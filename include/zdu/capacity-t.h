/* Types of the capacity decision (capacity.h). */
#ifndef ZDU_CAPACITY_T_H
#define ZDU_CAPACITY_T_H

struct zdu_capacity {
	int serving;        /* other servers that serve: zdu_lb_server_up() */
	int others;         /* other servers in the backend */
	int leaving_serves; /* the leaving server serves now (absent: 0) */
};

#endif
