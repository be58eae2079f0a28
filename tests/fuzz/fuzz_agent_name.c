/* The service name HAProxy's agent-send gives (zdu_name_feed): whatever
 * the bytes, and however they are cut into pieces, the reader ends the
 * same way; a name it accepts is one the configuration accepts; it never
 * reads past the line's end, and never more than a name and its line end. */
#include "fuzz_common.h"
#include "zdu/agent_name.h"
#include "zdu/config.h"

static enum zdu_name_status feed_all(struct zdu_name_reader *r, const uint8_t *d, size_t n, size_t step,
				     size_t *total)
{
	enum zdu_name_status st = ZDU_NAME_MORE;
	size_t off = 0, used;

	zdu_name_reader_init(r);
	*total = 0;
	while (off < n && st == ZDU_NAME_MORE) {
		size_t k = n - off < step ? n - off : step;

		st = zdu_name_feed(r, (const char *)d + off, k, &used);
		FUZZ_CHECK(used <= k, "used %zu of %zu", used, k);
		*total += used;
		off += k;
	}
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_name_reader whole, bytes;
	size_t tw, tb;
	enum zdu_name_status a = feed_all(&whole, data, size, size ? size : 1, &tw);
	enum zdu_name_status b = feed_all(&bytes, data, size, 1, &tb);

	FUZZ_CHECK(a == b, "status %d at once, %d a byte at a time", a, b);
	if (a == ZDU_NAME_MORE) {
		FUZZ_CHECK(tw == size, "took %zu of %zu without an end", tw, size);
		a = zdu_name_eof(&whole);
		b = zdu_name_eof(&bytes);
		FUZZ_CHECK(a == b, "eof status differs");
	}
	FUZZ_CHECK(a != ZDU_NAME_MORE, "still reading after eof");
	if (a == ZDU_NAME_DONE) {
		FUZZ_CHECK(strcmp(whole.buf, bytes.buf) == 0, "names differ: '%s' '%s'", whole.buf, bytes.buf);
		FUZZ_CHECK(whole.len == strlen(whole.buf), "length");
		FUZZ_CHECK(whole.len == 0 || zdu_service_name_valid(whole.buf, whole.len), "accepted '%s'", whole.buf);
		FUZZ_CHECK(tw <= whole.len + 2, "read %zu bytes for a name of %zu", tw, whole.len);
		FUZZ_CHECK(tw == size || data[tw - 1] == '\n', "stopped at byte %zu, not after a newline", tw);
	} else {
		FUZZ_CHECK(whole.why[0], "invalid without a reason");
		FUZZ_CHECK(tw <= ZDU_SERVICE_MAX + 1, "read %zu bytes before finding it invalid", tw);
	}
	return 0;
}
