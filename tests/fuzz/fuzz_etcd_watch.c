/* The etcd watch stream: the input is what the gateway streams, cut into
 * lines at '\n' as the client does (agent/common/etcd.c, watch_chunk), each line
 * given to zdu_etcd_watch_parse() by length, without its newline, then
 * freed with zdu_etcd_watch_msg_free(). Whatever the bytes, a line either
 * parses into events the client can deliver (every kv with a key and a
 * NUL-terminated value, a DELETE flag per kv) or fails with a message and
 * nothing left allocated; a value decoded survives zdu_b64_encode() ->
 * zdu_b64_decode() unchanged (what the CLI writes, the agent reads back).
 *
 * The messages go into the agent's log and --status (flag.etcd.last_error).
 * That they are printable single lines is checked too (the fuzzer once
 * found jansson's quoted bytes, and a binary key quoted raw, there). */
#include "fuzz_common.h"
#include "zdu/etcd.h"

static void check_b64_round_trip(const struct zdu_etcd_kv *kv)
{
	char *enc = zdu_b64_encode(kv->value, kv->len);
	char *dec;
	long n;

	FUZZ_CHECK(enc, "encode failed");
	FUZZ_CHECK(strlen(enc) == (kv->len + 2) / 3 * 4, "encoded %zu bytes into %zu", kv->len, strlen(enc));
	dec = malloc(kv->len + 1);
	FUZZ_CHECK(dec, "out of memory");
	n = zdu_b64_decode(enc, strlen(enc), dec, kv->len);
	FUZZ_CHECK(n == (long)kv->len && memcmp(dec, kv->value, kv->len) == 0, "round trip of %zu bytes gave %ld",
		   kv->len, n);
	free(dec);
	free(enc);
}

static void one_line(const char *line, size_t len)
{
	struct zdu_etcd_watch_msg m;
	size_t i;
	int rc;

	rc = zdu_etcd_watch_parse(line, len, &m);
	FUZZ_CHECK(rc == 0 || rc == -1, "returned %d", rc);
	FUZZ_CHECK(memchr(m.error, '\0', sizeof(m.error)), "error not terminated");
	FUZZ_CHECK(fuzz_printable_line(m.error, sizeof(m.error)), "error \"%s\"", m.error);
	if (rc < 0) {
		FUZZ_CHECK(m.error[0], "failed without a message");
		FUZZ_CHECK(m.nkvs == 0 && !m.kvs && !m.deleted, "failed with %zu kvs left", m.nkvs);
	} else {
		/* watch_line() delivers a canceled watch as ENDED with m.error
		 * as the reason, or as COMPACTED; any other message as is. */
		if (m.canceled && !m.compact_revision)
			FUZZ_CHECK(m.error[0], "canceled without a reason");
		else
			FUZZ_CHECK(!m.error[0], "parsed, but error \"%s\"", m.error);
		FUZZ_CHECK(m.created == 0 || m.created == 1, "created %d", m.created);
		FUZZ_CHECK(m.canceled == 0 || m.canceled == 1, "canceled %d", m.canceled);
		FUZZ_CHECK(m.nkvs == 0 || (m.kvs && m.deleted), "%zu kvs without arrays", m.nkvs);
		for (i = 0; i < m.nkvs; i++) {
			FUZZ_CHECK(m.kvs[i].key && m.kvs[i].value, "kv %zu incomplete", i);
			FUZZ_CHECK(m.kvs[i].value[m.kvs[i].len] == '\0', "value %zu not terminated", i);
			FUZZ_CHECK(m.kvs[i].len <= ZDU_ETCD_MAX_VALUE, "value %zu of %zu bytes", i, m.kvs[i].len);
			FUZZ_CHECK(m.deleted[i] == 0 || m.deleted[i] == 1, "deleted[%zu] %d", i, m.deleted[i]);
			check_b64_round_trip(&m.kvs[i]);
		}
	}
	zdu_etcd_watch_msg_free(&m);
	FUZZ_CHECK(m.nkvs == 0 && !m.kvs && !m.deleted, "free left state behind");
	zdu_etcd_watch_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A heap copy of exactly the input: no NUL after it, as in the
	 * client's buffer, so a read past a line is caught. */
	char *buf = malloc(size ? size : 1);
	size_t start = 0, i;

	if (!buf)
		abort();
	if (size)
		memcpy(buf, data, size);
	for (i = 0; i <= size; i++) {
		if (i < size && buf[i] != '\n')
			continue;
		/* empty lines are skipped; the last one, unterminated, is
		 * parsed too (the client keeps it for the next chunk) */
		if (i > start)
			one_line(buf + start, i - start);
		start = i + 1;
	}
	free(buf);
	return 0;
}
