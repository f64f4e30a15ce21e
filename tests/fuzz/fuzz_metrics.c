/*
 * fuzz_metrics: the metrics listener's HTTP request reader,
 * kf_metrics_http() (supervisor/metrics.c).
 *
 * Input: byte 0 flags (bit 0: eof, bit 1: full on the last read; bits 2-3
 * what the exposition callback does: 0 a fixed text, 1 nothing, 2 fail
 * with KF_ENOMEM, 3 the fixed text); bytes 1-2 (little endian) the split
 * point, folded into the request's length; the rest is the request, cut
 * at KF_METRICS_MAX_REQUEST as reqsrv does.
 *
 * The request arrives as two reads, as from a socket: the part before the
 * split with neither flag, and, when that returned false, the whole with
 * the input's flags.  Checks:
 *   - false leaves the reply empty, and is only allowed without eof/full;
 *   - a reply is "HTTP/1.1 NNN " with a 3-digit code, has "\r\n\r\n", and
 *     one Content-Length equal to the body's length (for HEAD: no body,
 *     and the length the GET body would have);
 *   - 200 only for GET or HEAD /metrics, with exactly the callback's text;
 *     500 exactly when the callback failed on such a request.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "metrics.h"
#include "wire.h"

#define BODY "# TYPE kfork_up gauge\nkfork_up 1\nkfork_lag{topic=\"t\",partition=\"0\"} 7\n"

enum body_mode { BODY_TEXT, BODY_EMPTY, BODY_FAIL };

struct call {
	enum body_mode mode;
	int calls;
};

static void exposition(void *opaque, struct kf_wr *out)
{
	struct call *c = opaque;
	c->calls++;
	if (c->mode == BODY_TEXT)
		kf_wr_raw(out, BODY, strlen(BODY));
	else if (c->mode == BODY_FAIL)
		out->err = KF_ENOMEM;
}

/* Where the header block ends in r (after "\r\n\r\n"), or 0. */
static size_t header_len(const char *r, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if (memcmp(r + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

/* The value of the one Content-Length header in r[0..hl); aborts unless
 * there is exactly one and it is a decimal number. */
static size_t content_length(const char *r, size_t hl)
{
	static const char name[] = "\r\nContent-Length: ";
	size_t nl = sizeof(name) - 1, value = 0;
	int found = 0;
	for (size_t i = 0; i + nl <= hl; i++) {
		if (memcmp(r + i, name, nl) != 0)
			continue;
		found++;
		size_t j = i + nl, digits = 0;
		for (value = 0; j < hl && r[j] >= '0' && r[j] <= '9'; j++, digits++)
			value = value * 10 + (size_t)(r[j] - '0');
		KF_FUZZ_CHECK(digits > 0 && digits < 10);
		KF_FUZZ_CHECK(j + 2 <= hl && r[j] == '\r' && r[j + 1] == '\n');
	}
	KF_FUZZ_CHECK(found == 1);
	return value;
}

/* Does the request line say GET or HEAD /metrics (any query)? */
static bool asks_metrics(const char *req, size_t len, bool *head)
{
	*head = len >= 5 && memcmp(req, "HEAD ", 5) == 0;
	size_t ml = *head ? 5 : 4;
	if (!*head && (len < 4 || memcmp(req, "GET ", 4) != 0))
		return false;
	return len >= ml + 9 && memcmp(req + ml, "/metrics", 8) == 0 &&
	       (req[ml + 8] == ' ' || req[ml + 8] == '?');
}

static void check_reply(const struct kf_wr *reply, const char *req, size_t len,
			const struct call *c)
{
	const char *r = (const char *)reply->buf;
	size_t n = reply->len;
	KF_FUZZ_CHECK(kf_wr_ok(reply));
	KF_FUZZ_CHECK(n > 13 && memcmp(r, "HTTP/1.1 ", 9) == 0);
	for (int i = 9; i < 12; i++)
		KF_FUZZ_CHECK(r[i] >= '0' && r[i] <= '9');
	KF_FUZZ_CHECK(r[9] != '0' && r[12] == ' ');
	int code = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
	size_t hl = header_len(r, n);
	KF_FUZZ_CHECK(hl > 0);
	size_t cl = content_length(r, hl);
	bool head = false;
	bool metrics = asks_metrics(req, len, &head);
	KF_FUZZ_CHECK(c->calls <= 1);
	if (code == 200) {
		KF_FUZZ_CHECK(metrics && c->calls == 1 && c->mode != BODY_FAIL);
		size_t want = c->mode == BODY_TEXT ? strlen(BODY) : 0;
		KF_FUZZ_CHECK(cl == want);
		if (head) {
			KF_FUZZ_CHECK(n == hl);
		} else {
			KF_FUZZ_CHECK(n - hl == want);
			KF_FUZZ_CHECK(memcmp(r + hl, BODY, want) == 0);
		}
	} else {
		KF_FUZZ_CHECK(code >= 400 && code <= 599);
		KF_FUZZ_CHECK(n - hl == cl);
		KF_FUZZ_CHECK((code == 500) == (c->calls == 1));
		KF_FUZZ_CHECK(c->calls == 0 || c->mode == BODY_FAIL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	bool eof = data[0] & 1, full = data[0] & 2;
	struct call c = { .mode = (enum body_mode)((data[0] >> 2) & 3) };
	if (c.mode > BODY_FAIL)
		c.mode = BODY_TEXT;
	const char *req = (const char *)data + 3;
	size_t len = size - 3;
	if (len > KF_METRICS_MAX_REQUEST)
		len = KF_METRICS_MAX_REQUEST;
	size_t split = (size_t)(data[1] | data[2] << 8) % (len + 1);

	struct kf_wr reply;
	kf_wr_init(&reply);
	bool done = false;
	if (split < len) {
		done = kf_metrics_http(req, split, false, false, exposition, &c, &reply);
		if (done)
			len = split;
		else
			KF_FUZZ_CHECK(reply.len == 0 && c.calls == 0);
	}
	if (!done) {
		done = kf_metrics_http(req, len, eof, full, exposition, &c, &reply);
		KF_FUZZ_CHECK(done || (!eof && !full));
	}
	if (done)
		check_reply(&reply, req, len, &c);
	else
		KF_FUZZ_CHECK(reply.len == 0 && c.calls == 0);
	kf_wr_free(&reply);
	return 0;
}
