/* The etcd gateway's unary answers (range, txn, put, delete, lease grant,
 * keepalive, authenticate, errors): zdu_etcd_parse_answer() gets the body
 * by length, as the client passes it (agent/common/etcd.c, on_req_done), into a
 * zeroed result, then zdu_etcd_result_clear(). Whatever the bytes, an
 * answer either parses (every kv with a key and a NUL-terminated value)
 * or fails with a kind and a message and no kv left allocated.
 *
 * The message goes into the agent's log and --status (etcd.publish.error,
 * flag.etcd.last_error) and the CLI's error. That it is one printable
 * line is checked too (the fuzzer once found jansson's quoted bytes there).
 *
 * The same bytes, as an answer of /v3/auth/authenticate, go through
 * zdu_etcd_auth_header(): either a header "Authorization: TOKEN" of one
 * line within ZDU_ETCD_MAX_TOKEN, or no header and a printable reason. */
#include "fuzz_common.h"
#include "zdu/etcd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdu_etcd_result res;
	char *body = malloc(size ? size : 1), *header = NULL, why[200];
	size_t i;
	int rc;

	if (!body)
		abort();
	if (size)
		memcpy(body, data, size);
	memset(&res, 0, sizeof(res));
	rc = zdu_etcd_parse_answer(body, size, &res);
	why[0] = '\0';
	if (zdu_etcd_auth_header(body, size, &header, why, sizeof(why)) == 0) {
		FUZZ_CHECK(header && strncmp(header, "Authorization: ", 15) == 0, "header \"%.40s\"",
			   header ? header : "(null)");
		FUZZ_CHECK(strlen(header) > 15 && strlen(header) - 15 <= ZDU_ETCD_MAX_TOKEN, "header of %zu bytes",
			   strlen(header));
		for (i = 15; header[i]; i++)
			FUZZ_CHECK((unsigned char)header[i] > 0x20 && (unsigned char)header[i] < 0x7f,
				   "byte 0x%02x in the header", (unsigned char)header[i]);
		free(header);
	} else {
		FUZZ_CHECK(!header, "refused, but a header");
		FUZZ_CHECK(why[0] && fuzz_printable_line(why, sizeof(why)), "reason \"%s\"", why);
	}
	free(body);
	FUZZ_CHECK(rc == 0 || rc == -1, "returned %d", rc);
	FUZZ_CHECK(memchr(res.msg, '\0', sizeof(res.msg)), "msg not terminated");
	FUZZ_CHECK(fuzz_printable_line(res.msg, sizeof(res.msg)), "msg \"%s\"", res.msg);
	if (rc < 0) {
		FUZZ_CHECK(res.err == ZDU_ERR_PROTO || res.err == ZDU_ERR_EXISTS, "failed with err %d", (int)res.err);
		FUZZ_CHECK(res.msg[0], "failed without a message");
		FUZZ_CHECK(res.nkvs == 0 && !res.kvs, "failed with %zu kvs left", res.nkvs);
	} else {
		FUZZ_CHECK(res.err == ZDU_OK, "parsed with err %d", (int)res.err);
		FUZZ_CHECK(!res.msg[0], "parsed, but msg \"%s\"", res.msg);
		FUZZ_CHECK(res.succeeded == 0 || res.succeeded == 1, "succeeded %d", res.succeeded);
		FUZZ_CHECK(res.nkvs == 0 || res.kvs, "%zu kvs without an array", res.nkvs);
		for (i = 0; i < res.nkvs; i++) {
			FUZZ_CHECK(res.kvs[i].key && res.kvs[i].value, "kv %zu incomplete", i);
			FUZZ_CHECK(res.kvs[i].value[res.kvs[i].len] == '\0', "value %zu not terminated", i);
			FUZZ_CHECK(res.kvs[i].len <= ZDU_ETCD_MAX_VALUE, "value %zu of %zu bytes", i, res.kvs[i].len);
		}
	}
	zdu_etcd_result_clear(&res);
	FUZZ_CHECK(res.nkvs == 0 && !res.kvs, "clear left state behind");
	return 0;
}
