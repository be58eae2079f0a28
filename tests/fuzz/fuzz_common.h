/* Shared by the libFuzzer targets: each target calls the very function the
 * daemon calls (linked from zdu_core), and checks what it promises. */
#ifndef ZDU_FUZZ_COMMON_H
#define ZDU_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken promise is a crash, whatever NDEBUG says. */
#define FUZZ_CHECK(cond, ...)                                                       \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                               \
			fputc('\n', stderr);                                        \
			abort();                                                    \
		}                                                                   \
	} while (0)

/* NUL-terminated within size, every byte printable ASCII: one line of text
 * that can go into a reply, a log line or a JSON answer as it is. */
static inline int fuzz_printable_line(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return i < size;
}

/* The input as a C string (the daemon reads a file or a line into a
 * NUL-terminated buffer); free() it. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
