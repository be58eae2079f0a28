/* Types of the HTTP client (http.h): a request's options and its result. */
#ifndef ZDU_HTTP_T_H
#define ZDU_HTTP_T_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

struct zdu_http_opts {
	const char *url;
	long timeout_ms;
	long connect_timeout_ms;
	size_t max_body; /* a larger body ends the transfer: too_big */
	const char *ca_file;
	const char *client_cert;
	const char *client_key;
	int verify; /* TLS peer and host verification */
	const char *const *headers;
	size_t nheaders;
	/* POST this body (copied) instead of a GET. */
	const char *post;
	size_t post_len;
	/* Streaming: each piece of the body goes to on_chunk as it arrives and
	 * nothing is collected (res.body is empty); returning nonzero ends the
	 * transfer. timeout_ms 0 then means no time limit, and TCP keepalive
	 * finds a peer that went away without closing. */
	int (*on_chunk)(const char *buf, size_t len, void *data);
	/* Keep the connection for the next request to the same peer (etcd);
	 * the probe never does, so each probe proves the listener accepts. */
	int reuse;
	/* Keep the value of this response header (case-insensitive name, the
	 * last one if repeated) in the result's header; NULL: none. */
	const char *capture_header;
	/* Connect and stop there (TCP probe): no request is sent, CURLE_OK once
	 * the connection is made. The URL's scheme only picks the default
	 * port: use http://HOST:PORT. */
	int connect_only;
};

#define ZDU_HTTP_HEADER_MAX 128 /* a captured header's value, longer is cut (header_cut) */

struct zdu_http_result {
	CURLcode curl;      /* CURLE_OK when an HTTP answer arrived */
	char curl_msg[CURL_ERROR_SIZE];
	long status;        /* HTTP status, 0 when none */
	const char *body;   /* NUL-terminated, for convenience; may hold NULs itself */
	size_t len;
	int too_big;        /* the body went over max_body */
	size_t max_body;
	int tls;            /* the URL was https */
	int connected;      /* the TCP connection was made (curl's connect time) */
	uint64_t elapsed_ms;
	/* opts.capture_header: its value as received (trimmed, cut to
	 * ZDU_HTTP_HEADER_MAX - 1 bytes: header_cut), header_found 0 when the
	 * answer had none. */
	int header_found;
	int header_cut;
	char header[ZDU_HTTP_HEADER_MAX];
};


#endif
