#include <string.h>
#include <time.h>

#include "zdu/common.h"

size_t zdu_strlcpy(char *dst, const char *src, size_t dst_size)
{
	size_t n = strlen(src);

	if (dst_size == 0)
		return 0;
	if (n >= dst_size)
		n = dst_size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

size_t zdu_text_sanitize(char *dst, size_t dst_size, const char *src, size_t src_len)
{
	size_t i, n = 0;

	if (dst_size == 0)
		return 0;
	for (i = 0; i < src_len && n + 1 < dst_size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\0')
			break;
		dst[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	/* Trailing blanks would be invisible in a reply: drop them. */
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
	return n;
}

uint64_t zdu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static size_t utf8_seq_len(const unsigned char *p)
{
	size_t n, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t zdu_utf8_sanitize(char *dst, size_t dst_size, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t len = 0;

	if (dst_size == 0)
		return 0;
	while (*p) {
		size_t n = utf8_seq_len(p);

		if (n == 0) {
			n = 1;
			if (len + 1 >= dst_size)
				break;
			dst[len++] = '?';
		} else {
			if (len + n >= dst_size)
				break;
			memcpy(dst + len, p, n);
			len += n;
		}
		p += n;
	}
	dst[len] = '\0';
	return len;
}
