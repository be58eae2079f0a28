#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "zdu/common.h"
#include "zdu/flag.h"
#include "zdu/reply.h"
#include "zdu/state.h"

struct reply_buf {
	char *p;
	size_t size, len;
	int reasons; /* reason parts written after '#' */
};

static void put(struct reply_buf *b, const char *s)
{
	size_t n = strlen(s);

	/* Keep room for the newline; a reply cut short still parses. */
	if (b->len + 1 >= b->size)
		return;
	if (n > b->size - b->len - 2)
		n = b->size - b->len - 2;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void token(struct reply_buf *b, const char *tok)
{
	if (b->len)
		put(b, " ");
	put(b, tok);
}

static void reason(struct reply_buf *b, const char *prefix, const char *text)
{
	put(b, b->reasons++ ? "; " : (b->len ? " #" : "#"));
	put(b, prefix);
	if (text && *text) {
		if (*prefix)
			put(b, ": ");
		put(b, text);
	}
}

/* The flag's part of the text: "maintenance" or "lb-managed", then the
 * operator's reason (or why the flag file is not understood). */
static void flag_reason(struct reply_buf *b, const struct zdu_flag *flag, enum zdu_flag_src src,
			const char *service)
{
	const char *what = flag->mode == ZDU_FLAG_LB ? ZDU_REPLY_LB_WORD : "maintenance";
	char text[ZDU_REASON_MAX + ZDU_SERVICE_MAX + 48];
	int svc = src == ZDU_SRC_SVC_FILE || src == ZDU_SRC_SVC_ETCD;
	size_t n = 0;

	/* A service's own flag says so, after the word the cutover reads:
	 * "maintenance: service placement: upgrade". */
	text[0] = '\0';
	if (svc)
		n = (size_t)snprintf(text, sizeof(text), "service %s%s", service,
				     flag->error[0] || flag->reason[0] ? ": " : "");
	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	if (flag->error[0])
		snprintf(text + n, sizeof(text) - n, "bad flag: %s", flag->error);
	else
		snprintf(text + n, sizeof(text) - n, "%s", flag->reason);
	reason(b, what, text);
}

size_t zdu_reply_format(const struct zdu_node_state *node, char *buf, size_t size)
{
	struct reply_buf b = { buf, size, 0, 0 };
	const struct zdu_health_state *h = &node->health;
	enum zdu_flag_src src;
	const struct zdu_flag *flag = zdu_node_flag_src(node, &src);
	const char *svc = node->service[0] ? node->service : "nova-api";
	char text[ZDU_SERVICE_MAX + 32];
	int down = h->health == ZDU_HEALTH_DOWN;
	int slow = h->health == ZDU_HEALTH_UP && h->slow.active;
	const char *op = NULL, *admin = NULL;
	int weighted = 0, zero = 0;
	char pct[16];

	if (size < 2)
		return 0;
	buf[0] = '\0';

	switch (h->health) {
	case ZDU_HEALTH_UNKNOWN:
		op = NULL; /* no verdict yet: HAProxy's own check decides */
		break;
	case ZDU_HEALTH_UP:
	case ZDU_HEALTH_UNCHECKED:
		op = "up";
		break;
	case ZDU_HEALTH_DOWN:
		op = node->on_failure == ZDU_FAIL_DOWN ? "down" : "up";
		break;
	}

	switch (flag->mode) {
	case ZDU_FLAG_OFF:
		if ((down && node->on_failure == ZDU_FAIL_DRAIN) || h->disabled) {
			admin = "drain";
		} else {
			admin = "ready";
			weighted = 1;
		}
		break;
	case ZDU_FLAG_DRAIN:
		admin = "drain";
		break;
	case ZDU_FLAG_MAINT:
		admin = "maint";
		break;
	case ZDU_FLAG_LB:
		admin = NULL; /* the load balancer owns the administrative state */
		weighted = 1;
		break;
	}
	/* Without an administrative token, weight 0 is what keeps new sessions
	 * off a node that must not take them; it never undoes a drain the load
	 * balancer set. */
	if (flag->mode == ZDU_FLAG_LB && ((down && node->on_failure == ZDU_FAIL_DRAIN) || h->disabled))
		zero = 1;

	if (op)
		token(&b, op);
	if (admin)
		token(&b, admin);
	if (weighted) {
		unsigned w = (zero || (down && node->on_failure == ZDU_FAIL_ZERO)) ? 0 : node->weight_pct;

		/* Slow: a share of the weight, never 0 from a nonzero one (0
		 * would take the node out, which slowness alone must not). */
		if (w && slow) {
			unsigned s = w * (h->slow.weight_pct > 100 ? 100 : h->slow.weight_pct) / 100;

			w = s ? s : 1;
		}

		snprintf(pct, sizeof(pct), "%u%%", w);
		token(&b, pct);
	}

	/* In flag mode lb the text opens with "lb-managed": a load balancer
	 * shows the text (last_agt), and that is how zdu-coordinator tells a
	 * reply of mode lb from any other (zdu_last_agt_is_lb_mode). Minimal
	 * detail keeps that word alone: it says nothing about the node that
	 * the tokens do not, and the cutover needs it. */
	if (node->detail == ZDU_DETAIL_MINIMAL) {
		if (flag->mode == ZDU_FLAG_LB)
			reason(&b, ZDU_REPLY_LB_WORD, NULL);
		goto end;
	}
	if (flag->mode == ZDU_FLAG_LB)
		flag_reason(&b, flag, src, svc);
	if (down || slow || (!down && h->disabled))
		snprintf(text, sizeof(text), "%s: %s", svc, down ? "unhealthy" : slow ? "slow" : "disabled");
	if (down)
		reason(&b, "", h->reason[0] ? h->reason : text);
	else if (slow)
		reason(&b, "", h->reason[0] ? h->reason : text);
	if (!down && h->disabled) {
		snprintf(text, sizeof(text), "%s: disabled", svc);
		reason(&b, "", h->disabled_reason[0] ? h->disabled_reason : text);
	}
	if (flag->mode != ZDU_FLAG_OFF && flag->mode != ZDU_FLAG_LB)
		flag_reason(&b, flag, src, svc);
	if (!down && h->health == ZDU_HEALTH_UP && h->version[0]) {
		char v[ZDU_VERSION_MAX + ZDU_SERVICE_MAX + 2];

		snprintf(v, sizeof(v), "%s %s", svc, h->version);
		reason(&b, v, NULL);
	} else if (h->health == ZDU_HEALTH_UNKNOWN) {
		reason(&b, svc, "not probed yet");
	}
end:
	buf[b.len++] = '\n';
	buf[b.len] = '\0';
	return b.len;
}
