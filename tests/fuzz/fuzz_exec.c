/*
 * fuzz_exec: the exec handler's answer reader (worker/exec_answer.c): the
 * line splitter kf_exec_lines_* and the parser kf_exec_answer_parse, as
 * h_exec.c uses them on its command's stdout.
 *
 * Input: byte 0 flags (bit 0: stop at the first line that is not an
 * answer, as h_exec does; bit 1: write each chunk at kf_exec_lines_tail()
 * and kf_exec_lines_push() it, as h_exec does with read(2), else
 * kf_exec_lines_feed() it); bytes 1-2 (little endian) the chunk length
 * (0: the whole input at once); the rest is the command's output.
 *
 * Checks, against a reference written here from exec_answer.h's contract:
 *   - lines come in order, each exactly the input up to its '\n' (no '\n'
 *     inside, at most KF_EXEC_ANSWER_MAX bytes), so that the lines, each
 *     with its '\n', then what the splitter keeps are the input (a prefix
 *     of it after a stop);
 *   - OVERLONG exactly when KF_EXEC_ANSWER_MAX + 1 bytes come without a
 *     '\n', the splitter then holding just them (with push: having taken
 *     exactly up to there); STOPPED only after the callback said stop;
 *   - each verdict is the reference grammar's: one '\r' before the '\n'
 *     dropped, the line read up to its first NUL, "ok", "fail" or "retry"
 *     alone or followed by a space and a reason; the reason points inside
 *     the line, at the byte after that space (or at the line's end), and
 *     runs to the line's end; the parsed line is NUL-terminated there.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "exec_answer.h"
#include "fuzz.h"

struct run {
	const char *in;             /* the whole input */
	size_t n;
	size_t pos;                 /* where the next line must start */
	bool stop_on_invalid;
	bool stopped;               /* the callback returned false */
	const struct kf_exec_lines *l;
};

/* The reference grammar over the raw bytes s[0..n) (without '\n').
 * Returns the verdict and, unless INVALID, where the reason starts and
 * where the line ends. */
static enum kf_exec_verdict ref_verdict(const char *s, size_t n, size_t *r_off, size_t *end)
{
	static const struct {
		const char *w;
		enum kf_exec_verdict v;
	} verbs[] = { { "fail", KF_EXEC_FAIL }, { "retry", KF_EXEC_RETRY } };
	if (n > 0 && s[n - 1] == '\r')
		n--;
	const char *nul = memchr(s, '\0', n);
	if (nul)
		n = (size_t)(nul - s);
	*end = n;
	if (n == 2 && s[0] == 'o' && s[1] == 'k') {
		*r_off = 2;
		return KF_EXEC_OK;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		size_t wl = strlen(verbs[i].w);
		if (n < wl || memcmp(s, verbs[i].w, wl) != 0)
			continue;
		if (n == wl) {
			*r_off = wl;
			return verbs[i].v;
		}
		if (s[wl] == ' ') {
			*r_off = wl + 1;
			return verbs[i].v;
		}
	}
	return KF_EXEC_INVALID;
}

static bool on_line(void *opaque, char *line, size_t len)
{
	struct run *r = opaque;
	KF_FUZZ_CHECK(!r->stopped);
	/* The line is in the splitter's buffer, whole, '\n' after it. */
	KF_FUZZ_CHECK(line >= r->l->buf && line + len < r->l->buf + sizeof(r->l->buf));
	KF_FUZZ_CHECK(len <= KF_EXEC_ANSWER_MAX && line[len] == '\n');
	KF_FUZZ_CHECK(r->pos + len < r->n);
	KF_FUZZ_CHECK(memcmp(line, r->in + r->pos, len) == 0 && r->in[r->pos + len] == '\n');
	KF_FUZZ_CHECK(memchr(line, '\n', len) == NULL);

	size_t r_off = 0, end = 0;
	enum kf_exec_verdict want = ref_verdict(r->in + r->pos, len, &r_off, &end);
	r->pos += len + 1;
	const char *reason = line;  /* not NULL: the parser must set it */
	enum kf_exec_verdict got = kf_exec_answer_parse(line, len, &reason);
	KF_FUZZ_CHECK(got == want);
	KF_FUZZ_CHECK(line[end] == '\0' && strlen(line) == end);
	if (got == KF_EXEC_INVALID) {
		KF_FUZZ_CHECK(reason == NULL);
	} else {
		KF_FUZZ_CHECK(reason == line + r_off && r_off <= end);
		KF_FUZZ_CHECK(strlen(reason) == end - r_off);
	}
	if (got == KF_EXEC_INVALID && r->stop_on_invalid) {
		r->stopped = true;
		return false;
	}
	return true;
}

/* Where the first line of more than KF_EXEC_ANSWER_MAX bytes would be
 * found overlong: the input offset just past its KF_EXEC_ANSWER_MAX + 1st
 * byte, or 0 when no line is that long. */
static size_t ref_overlong_at(const char *in, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n')
			start = i + 1;
		else if (i + 1 - start == KF_EXEC_ANSWER_MAX + 1)
			return i + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	static struct kf_exec_lines l;
	kf_exec_lines_reset(&l);
	struct run r = {
		.in = (const char *)data + 3,
		.n = size - 3,
		.stop_on_invalid = data[0] & 1,
		.l = &l,
	};
	bool use_push = data[0] & 2;
	size_t chunk = (size_t)(data[1] | data[2] << 8);
	if (chunk == 0)
		chunk = r.n ? r.n : 1;

	enum kf_exec_lines_rc rc = KF_EXEC_LINES_MORE;
	size_t taken = 0;
	while (taken < r.n && rc == KF_EXEC_LINES_MORE) {
		size_t k = r.n - taken < chunk ? r.n - taken : chunk;
		if (use_push) {
			size_t room;
			char *tail = kf_exec_lines_tail(&l, &room);
			KF_FUZZ_CHECK(room > 0 && room == sizeof(l.buf) - l.len);
			if (k > room)
				k = room;
			memcpy(tail, r.in + taken, k);
			rc = kf_exec_lines_push(&l, k, on_line, &r);
		} else {
			rc = kf_exec_lines_feed(&l, r.in + taken, k, on_line, &r);
		}
		taken += k;
	}

	/* Lines given, then what is kept: the input, or a prefix of it. */
	KF_FUZZ_CHECK(l.len <= sizeof(l.buf) && r.pos + l.len <= r.n);
	KF_FUZZ_CHECK(l.len == 0 || memcmp(l.buf, r.in + r.pos, l.len) == 0);
	size_t over = ref_overlong_at(r.in, r.n);
	switch (rc) {
	case KF_EXEC_LINES_MORE:
		KF_FUZZ_CHECK(!r.stopped && taken == r.n && r.pos + l.len == r.n);
		KF_FUZZ_CHECK(over == 0 && memchr(l.buf, '\n', l.len) == NULL);
		break;
	case KF_EXEC_LINES_OVERLONG:
		KF_FUZZ_CHECK(!r.stopped && over != 0);
		KF_FUZZ_CHECK(l.len == KF_EXEC_ANSWER_MAX + 1 && r.pos + l.len == over);
		KF_FUZZ_CHECK(!use_push || taken == over);
		/* A spent splitter stays spent. */
		KF_FUZZ_CHECK(kf_exec_lines_feed(&l, "ok\n", 3, on_line, &r) ==
			      KF_EXEC_LINES_OVERLONG);
		KF_FUZZ_CHECK(l.len == KF_EXEC_ANSWER_MAX + 1);
		break;
	case KF_EXEC_LINES_STOPPED:
		KF_FUZZ_CHECK(r.stopped && r.stop_on_invalid);
		/* The stop came first: no overlong line before the stopping one. */
		KF_FUZZ_CHECK(over == 0 || over > r.pos);
		break;
	default:
		KF_FUZZ_CHECK(!"unknown kf_exec_lines_rc");
	}
	return 0;
}
