/* Small shared helpers: nothing here allocates or logs. */
#ifndef ZDU_COMMON_H
#define ZDU_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifndef ZDU_VERSION
#define ZDU_VERSION "0.0.0"
#endif

#define ZDU_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define zdu_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Intrusive doubly linked list, as in libuv's queue: the listener keeps its
 * connections in accept order so the oldest can be evicted in O(1). */
struct zdu_list {
	struct zdu_list *next, *prev;
};

static inline void zdu_list_init(struct zdu_list *l) { l->next = l->prev = l; }
static inline int zdu_list_empty(const struct zdu_list *l) { return l->next == l; }
static inline void zdu_list_insert_tail(struct zdu_list *h, struct zdu_list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}
static inline void zdu_list_remove(struct zdu_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

/* Copies src into dst (size dst_size), never overflowing, always terminated;
 * returns the length written. */
size_t zdu_strlcpy(char *dst, const char *src, size_t dst_size);

/* Copies at most max bytes of free text into dst as one printable line:
 * control bytes and bytes >= 0x7f become '?', so an operator's reason can
 * never break the one-line agent reply or the log. */
size_t zdu_text_sanitize(char *dst, size_t dst_size, const char *src, size_t src_len);

/* Copies src into dst as valid UTF-8: each byte that does not start or
 * continue a valid sequence becomes '?'. Output for JSON, which refuses
 * anything else (an upgrade command may print Latin-1). */
size_t zdu_utf8_sanitize(char *dst, size_t dst_size, const char *src);

/* Writes a whole file so that a crash or power loss never leaves half of
 * it: temporary file in the same directory, fsync, rename, fsync of the
 * directory. On failure the old file stays and err says what failed. The
 * return value is an enum zdu_err. */
int zdu_file_write_atomic(const char *path, const char *content, size_t len, int mode, char *err,
			  size_t err_size);
int zdu_file_remove_durable(const char *path, char *err, size_t err_size);

/* Reads the first line of a small file (a password file) into buf,
 * without its line end; -1 with errno when it cannot be read. */
int zdu_read_first_line(const char *path, char *buf, size_t size);

/* The wall clock as "2026-11-25T02:11:38.123Z" in buf; returns buf. */
const char *zdu_utc_now_ms(char *buf, size_t size);
/* The same for a wall-clock time in milliseconds since the epoch. */
const char *zdu_utc_ms(int64_t unix_ms, char *buf, size_t size);

/* "1.2 s", or "450 ms" under a second: a duration as people read it. */
const char *zdu_duration_text(uint64_t ms, char *buf, size_t size);

/* Monotonic milliseconds, for timers and latencies (never the wall clock). */
uint64_t zdu_now_ms(void);

#endif
