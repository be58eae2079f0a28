/* Reading agent replies back, as the coordinator sees them on a load
 * balancer (HAProxy's grammar, src/tcpcheck.c): is this a reply of flag
 * mode lb? Pure functions, shared; the daemon formats replies in reply.c. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "zdu/reply.h"

/* ---- reading replies back: is this a reply of flag mode lb? ---------- */

static int word_is(const char *w, size_t n, const char *what)
{
	return n == strlen(what) && strncasecmp(w, what, n) == 0;
}

/* HAProxy's health words (src/tcpcheck.c, tcpcheck_agent_expect_reply). */
static int health_word(const char *w, size_t n)
{
	return word_is(w, n, "up") || word_is(w, n, "down") || word_is(w, n, "stopped") ||
	       word_is(w, n, "fail");
}

/* TEXT opens with the lb part: the word, then the end or one of ENDS. */
static int opens_lb(const char *text, const char *ends)
{
	size_t n = strlen(ZDU_REPLY_LB_WORD);

	return strncmp(text, ZDU_REPLY_LB_WORD, n) == 0 && (text[n] == '\0' || strchr(ends, text[n]));
}

int zdu_reply_is_lb_mode(const char *reply)
{
	const char *p = reply;

	for (;;) {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0' || *p == '\r' || *p == '\n')
			return 0; /* no text: nothing says lb */
		if (*p == '#')
			break;
		n = strcspn(p, " \t,\r\n");
		/* An administrative word is exactly what mode lb never sends;
		 * a word HAProxy does not know would replace the text it shows. */
		if (!health_word(p, n) && !(isdigit((unsigned char)*p) && memchr(p, '%', n)) &&
		    !(n > 8 && strncasecmp(p, "maxconn:", 8) == 0))
			return 0;
		p += n;
	}
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return opens_lb(p, ":;\r\n");
}

int zdu_last_agt_is_lb_mode(const char *last_agt)
{
	static const char via[] = "via agent : ";
	const char *p;
	size_t n;

	if (strncmp(last_agt, via, sizeof(via) - 1) != 0)
		return 0;
	p = last_agt + sizeof(via) - 1;
	n = strcspn(p, " ");
	if (!health_word(p, n) || strncmp(p + n, " (", 2) != 0)
		return 0;
	/* The text may end cut short (HAProxy keeps 127 bytes) or with ')'. */
	return opens_lb(p + n + 2, ":;)");
}
