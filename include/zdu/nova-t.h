/* Types of nova-api's answers (nova.h). */
#ifndef ZDU_NOVA_T_H
#define ZDU_NOVA_T_H

#include "zdu/state-t.h"

struct zdu_nova_version {
	char version[ZDU_VERSION_MAX];     /* "2.93" */
	char min_version[ZDU_VERSION_MAX]; /* "2.1" */
};

#endif
