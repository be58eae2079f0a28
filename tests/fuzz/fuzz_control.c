/* The control protocol: zdu_ctl_parse() gets a request line as the control
 * socket passes it (without the newline). */
#include "fuzz_common.h"
#include "zdu/control_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_ctl_req req;
	char err[128];
	enum zdu_err rc;

	err[0] = '\0';
	rc = zdu_ctl_parse((const char *)data, size, &req, err, sizeof(err));
	if (rc != ZDU_OK) {
		/* The error goes back as a JSON string and into the CLI's message. */
		FUZZ_CHECK(err[0] && fuzz_printable_line(err, sizeof(err)), "error \"%s\"", err);
		return 0;
	}
	FUZZ_CHECK((unsigned)req.cmd <= ZDU_CTL_CLEAR_ETCD_FLAG, "command %d", (int)req.cmd);
	FUZZ_CHECK(strcmp(zdu_ctl_cmd_name(req.cmd), "?") != 0, "unnamed command");
	switch (req.cmd) {
	case ZDU_CTL_WAIT_DRAINED:
		FUZZ_CHECK(req.arg_ms >= 0 && req.arg_ms <= 86400000LL, "wait-drained %lld", req.arg_ms);
		break;
	case ZDU_CTL_SET_FLAG:
	case ZDU_CTL_SET_ETCD_FLAG:
		FUZZ_CHECK(req.mode == ZDU_FLAG_DRAIN || req.mode == ZDU_FLAG_MAINT || req.mode == ZDU_FLAG_LB,
			   "set-flag mode %d", (int)req.mode);
		/* The reason ends up in the flag file and the reply. */
		FUZZ_CHECK(fuzz_printable_line(req.reason, sizeof(req.reason)), "reason \"%s\"", req.reason);
		break;
	default:
		break;
	}
	return 0;
}
