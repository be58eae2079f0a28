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
