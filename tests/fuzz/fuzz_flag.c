/* The maintenance flag file: zdu_flag_parse() gets the file's bytes as
 * zdu_flag_read() does. Whatever the bytes, the flag is one of the modes,
 * every text in it can go into the one-line reply, and a flag that parsed
 * survives zdu_flag_format() -> zdu_flag_parse() unchanged (what the CLI
 * writes, the daemon reads back the same). */
#include "fuzz_common.h"
#include "zdu/flag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_flag flag, again;
	char buf[ZDU_FLAG_MAX_BYTES];
	enum zdu_err rc, rc2;
	size_t n;

	rc = zdu_flag_parse((const char *)data, size, &flag);
	FUZZ_CHECK(flag.mode == ZDU_FLAG_DRAIN || flag.mode == ZDU_FLAG_MAINT || flag.mode == ZDU_FLAG_LB,
		   "mode %d for an existing flag file", (int)flag.mode);
	FUZZ_CHECK(fuzz_printable_line(flag.reason, sizeof(flag.reason)), "reason \"%s\"", flag.reason);
	FUZZ_CHECK(fuzz_printable_line(flag.by, sizeof(flag.by)), "by \"%s\"", flag.by);
	FUZZ_CHECK(fuzz_printable_line(flag.since, sizeof(flag.since)), "since \"%s\"", flag.since);
	/* The error goes into the reply line ("bad flag: ...", agent/daemon/reply.c)
	 * and the status JSON: printable ASCII too (found by this target:
	 * crashes/README.md, now a unit test). */
	FUZZ_CHECK(fuzz_printable_line(flag.error, sizeof(flag.error)), "error \"%s\"", flag.error);
	if (rc != ZDU_OK) {
		FUZZ_CHECK(flag.error[0] && flag.mode == ZDU_FLAG_DRAIN,
			   "failed (%d) without an error or not draining", (int)rc);
		return 0;
	}
	FUZZ_CHECK(!flag.error[0], "ok but error \"%s\"", flag.error);

	n = zdu_flag_format(&flag, buf, sizeof(buf));
	FUZZ_CHECK(n > 0 && n < sizeof(buf), "a parsed flag does not format (%zu)", n);
	rc2 = zdu_flag_parse(buf, n, &again);
	FUZZ_CHECK(rc2 == ZDU_OK, "formatted flag does not parse: %s\n%.*s", again.error, (int)n, buf);
	FUZZ_CHECK(zdu_flag_equal(&flag, &again),
		   "round trip changed the flag: mode %d/%d reason \"%s\"/\"%s\" since \"%s\"/\"%s\" "
		   "by \"%s\"/\"%s\"",
		   (int)flag.mode, (int)again.mode, flag.reason, again.reason, flag.since, again.since,
		   flag.by, again.by);
	return 0;
}
