/*
 * exec_answer: the exec handler's answer parser (every verdict, reasons,
 * CR, NUL, near misses) and line splitter (lines across pushes, the
 * longest line that fits, the first that does not, a stop, feed in
 * pieces larger than the buffer).
 */
#include "config.h"

#include <string.h>

#include "exec_answer.h"
#include "suites.h"

/* Registered in main.c (not yet in suites.h). */
Suite *suite_exec_answer(void);

/* ---- parser ---- */

/* Parse s (copied, with a '\n' after it as the splitter leaves it). */
static enum kf_exec_verdict parse(const char *s, size_t len, char *buf, const char **reason)
{
	memcpy(buf, s, len);
	buf[len] = '\n';
	return kf_exec_answer_parse(buf, len, reason);
}

#define PARSE(lit, buf, reason) parse(lit, sizeof(lit) - 1, buf, reason)

START_TEST(parse_verdicts)
{
	char b[64];
	const char *r;
	ck_assert_int_eq(PARSE("ok", b, &r), KF_EXEC_OK);
	ck_assert_ptr_eq(r, b + 2);
	ck_assert_str_eq(r, "");
	ck_assert_int_eq(PARSE("retry", b, &r), KF_EXEC_RETRY);
	ck_assert_ptr_eq(r, b + 5);
	ck_assert_str_eq(r, "");
	ck_assert_int_eq(PARSE("retry broker busy", b, &r), KF_EXEC_RETRY);
	ck_assert_ptr_eq(r, b + 6);
	ck_assert_str_eq(r, "broker busy");
	ck_assert_int_eq(PARSE("fail", b, &r), KF_EXEC_FAIL);
	ck_assert_ptr_eq(r, b + 4);
	ck_assert_str_eq(r, "");
	ck_assert_int_eq(PARSE("fail bad value", b, &r), KF_EXEC_FAIL);
	ck_assert_ptr_eq(r, b + 5);
	ck_assert_str_eq(r, "bad value");
	/* One space is the separator; the rest belongs to the reason. */
	ck_assert_int_eq(PARSE("fail  two", b, &r), KF_EXEC_FAIL);
	ck_assert_str_eq(r, " two");
	ck_assert_int_eq(PARSE("fail ", b, &r), KF_EXEC_FAIL);
	ck_assert_ptr_eq(r, b + 5);
	ck_assert_str_eq(r, "");
}
END_TEST

START_TEST(parse_cr)
{
	char b[64];
	const char *r;
	ck_assert_int_eq(PARSE("ok\r", b, &r), KF_EXEC_OK);
	ck_assert_str_eq(b, "ok");
	ck_assert_int_eq(PARSE("fail x\r", b, &r), KF_EXEC_FAIL);
	ck_assert_str_eq(r, "x");
	/* Only one CR goes, and only at the end. */
	ck_assert_int_eq(PARSE("ok\r\r", b, &r), KF_EXEC_INVALID);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(b, "ok\r");
	ck_assert_int_eq(PARSE("fail a\rb", b, &r), KF_EXEC_FAIL);
	ck_assert_str_eq(r, "a\rb");
	ck_assert_int_eq(PARSE("\r", b, &r), KF_EXEC_INVALID);
	ck_assert_str_eq(b, "");
}
END_TEST

START_TEST(parse_invalid)
{
	static const char *const bad[] = { "", "o", "OK", "ok ", " ok", "okay", "failure",
					   "retrying", "retry\tx", "fail\tx", "Fail x", "hello" };
	char b[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = "x";
		ck_assert_msg(parse(bad[i], strlen(bad[i]), b, &r) == KF_EXEC_INVALID, "%s", bad[i]);
		ck_assert_ptr_null(r);
		ck_assert_str_eq(b, bad[i]);    /* terminated in place, for messages */
	}
}
END_TEST

/* The line is a C string: a NUL ends it (kept from h_exec.c as it was). */
START_TEST(parse_nul)
{
	char b[64];
	const char *r;
	ck_assert_int_eq(PARSE("ok\0junk", b, &r), KF_EXEC_OK);
	ck_assert_int_eq(PARSE("fail a\0b", b, &r), KF_EXEC_FAIL);
	ck_assert_str_eq(r, "a");
	ck_assert_int_eq(PARSE("retry\0x", b, &r), KF_EXEC_RETRY);
	ck_assert_str_eq(r, "");
	ck_assert_int_eq(PARSE("\0ok", b, &r), KF_EXEC_INVALID);
}
END_TEST

/* ---- splitter ---- */

struct got {
	int n;
	char lines[8][64];
	enum kf_exec_verdict v[8];
	int stop_at;                /* return false on this line (-1: never) */
};

static bool collect(void *opaque, char *line, size_t len)
{
	struct got *g = opaque;
	ck_assert_int_lt(g->n, 8);
	ck_assert_uint_lt(len, sizeof(g->lines[0]));
	ck_assert_int_eq(line[len], '\n');
	memcpy(g->lines[g->n], line, len);
	g->lines[g->n][len] = '\0';
	const char *r;
	g->v[g->n] = kf_exec_answer_parse(line, len, &r);
	return g->n++ != g->stop_at;
}

static enum kf_exec_lines_rc push_str(struct kf_exec_lines *l, const char *s, struct got *g)
{
	size_t room;
	char *tail = kf_exec_lines_tail(l, &room);
	ck_assert_uint_ge(room, strlen(s));
	memcpy(tail, s, strlen(s));
	return kf_exec_lines_push(l, strlen(s), collect, g);
}

START_TEST(lines_across_pushes)
{
	static struct kf_exec_lines l;
	struct got g = { .stop_at = -1 };
	kf_exec_lines_reset(&l);
	size_t room;
	ck_assert_ptr_eq(kf_exec_lines_tail(&l, &room), l.buf);
	ck_assert_uint_eq(room, KF_EXEC_ANSWER_MAX + 1);
	ck_assert_int_eq(push_str(&l, "ok\nre", &g), KF_EXEC_LINES_MORE);
	ck_assert_int_eq(g.n, 1);
	ck_assert_uint_eq(l.len, 2);
	ck_assert_int_eq(push_str(&l, "try soon\r", &g), KF_EXEC_LINES_MORE);
	ck_assert_int_eq(g.n, 1);
	ck_assert_int_eq(push_str(&l, "\nfail x\n\nok", &g), KF_EXEC_LINES_MORE);
	ck_assert_int_eq(g.n, 4);
	ck_assert_str_eq(g.lines[0], "ok");
	ck_assert_str_eq(g.lines[1], "retry soon\r");
	ck_assert_str_eq(g.lines[2], "fail x");
	ck_assert_str_eq(g.lines[3], "");
	ck_assert_int_eq(g.v[0], KF_EXEC_OK);
	ck_assert_int_eq(g.v[1], KF_EXEC_RETRY);
	ck_assert_int_eq(g.v[2], KF_EXEC_FAIL);
	ck_assert_int_eq(g.v[3], KF_EXEC_INVALID);
	ck_assert_uint_eq(l.len, 2);
	ck_assert_int_eq(memcmp(l.buf, "ok", 2), 0);
	ck_assert_ptr_eq(kf_exec_lines_tail(&l, &room), l.buf + 2);
	ck_assert_uint_eq(room, KF_EXEC_ANSWER_MAX - 1);
}
END_TEST

START_TEST(lines_stop)
{
	static struct kf_exec_lines l;
	struct got g = { .stop_at = 1 };
	kf_exec_lines_reset(&l);
	ck_assert_int_eq(push_str(&l, "ok\nhello\nok\nfa", &g), KF_EXEC_LINES_STOPPED);
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.lines[1], "hello");
	/* What followed the stopping line is kept, not split. */
	ck_assert_uint_eq(l.len, 5);
	ck_assert_int_eq(memcmp(l.buf, "ok\nfa", 5), 0);
}
END_TEST

/* Lines of any length up to the limit: lengths and verdicts only. */
struct long_lines {
	int n;
	size_t len[4];
	enum kf_exec_verdict v[4];
	size_t reason_len[4];
};

static bool collect_long(void *opaque, char *line, size_t len)
{
	struct long_lines *g = opaque;
	ck_assert_int_lt(g->n, 4);
	const char *r;
	g->len[g->n] = len;
	g->v[g->n] = kf_exec_answer_parse(line, len, &r);
	g->reason_len[g->n] = r ? strlen(r) : 0;
	g->n++;
	return true;
}

static char big[2 * KF_EXEC_ANSWER_MAX];

/* "fail aaa...a" of len bytes at big, then s. */
static size_t make_big(size_t len, const char *s)
{
	memset(big, 'a', len);
	memcpy(big, "fail ", 5);
	memcpy(big + len, s, strlen(s));
	return len + strlen(s);
}

/* A line of KF_EXEC_ANSWER_MAX bytes and its '\n' fit, fed in one piece
 * larger than the buffer or pushed in two. */
START_TEST(lines_longest_fits)
{
	static struct kf_exec_lines l;
	struct long_lines g = { 0 };
	kf_exec_lines_reset(&l);
	size_t n = make_big(KF_EXEC_ANSWER_MAX, "\nok\nfa");
	ck_assert_int_eq(kf_exec_lines_feed(&l, big, n, collect_long, &g), KF_EXEC_LINES_MORE);
	ck_assert_int_eq(g.n, 2);
	ck_assert_uint_eq(g.len[0], KF_EXEC_ANSWER_MAX);
	ck_assert_int_eq(g.v[0], KF_EXEC_FAIL);
	ck_assert_uint_eq(g.reason_len[0], KF_EXEC_ANSWER_MAX - 5);
	ck_assert_uint_eq(g.len[1], 2);
	ck_assert_int_eq(g.v[1], KF_EXEC_OK);
	ck_assert_uint_eq(l.len, 2);
	ck_assert_int_eq(memcmp(l.buf, "fa", 2), 0);

	kf_exec_lines_reset(&l);
	g.n = 0;
	size_t room;
	char *tail = kf_exec_lines_tail(&l, &room);
	memcpy(tail, big, KF_EXEC_ANSWER_MAX);
	ck_assert_int_eq(kf_exec_lines_push(&l, KF_EXEC_ANSWER_MAX, collect_long, &g),
			 KF_EXEC_LINES_MORE);
	ck_assert_int_eq(g.n, 0);
	tail = kf_exec_lines_tail(&l, &room);
	ck_assert_uint_eq(room, 1);
	*tail = '\n';
	ck_assert_int_eq(kf_exec_lines_push(&l, 1, collect_long, &g), KF_EXEC_LINES_MORE);
	ck_assert_int_eq(g.n, 1);
	ck_assert_uint_eq(g.len[0], KF_EXEC_ANSWER_MAX);
	ck_assert_uint_eq(l.len, 0);
}
END_TEST

/* One byte more without the '\n' is overlong, found as it arrives; the
 * splitter then stays spent. */
START_TEST(lines_overlong)
{
	static struct kf_exec_lines l;
	struct long_lines g = { 0 };
	kf_exec_lines_reset(&l);
	size_t room;
	char *tail = kf_exec_lines_tail(&l, &room);
	make_big(KF_EXEC_ANSWER_MAX + 1, "");
	memcpy(tail, big, KF_EXEC_ANSWER_MAX + 1);
	ck_assert_int_eq(kf_exec_lines_push(&l, KF_EXEC_ANSWER_MAX + 1, collect_long, &g),
			 KF_EXEC_LINES_OVERLONG);
	ck_assert_int_eq(g.n, 0);
	ck_assert_uint_eq(l.len, KF_EXEC_ANSWER_MAX + 1);
	kf_exec_lines_tail(&l, &room);
	ck_assert_uint_eq(room, 0);
	ck_assert_int_eq(kf_exec_lines_push(&l, 0, collect_long, &g), KF_EXEC_LINES_OVERLONG);
	ck_assert_int_eq(kf_exec_lines_feed(&l, "ok\n", 3, collect_long, &g),
			 KF_EXEC_LINES_OVERLONG);
	ck_assert_int_eq(g.n, 0);

	/* After a line, fed in one piece: the '\n' past the limit is not
	 * taken, nor what follows. */
	kf_exec_lines_reset(&l);
	memcpy(big, "ok\n", 3);
	memset(big + 3, 'b', KF_EXEC_ANSWER_MAX + 1);
	memcpy(big + 3 + KF_EXEC_ANSWER_MAX + 1, "\nok\n", 4);
	ck_assert_int_eq(kf_exec_lines_feed(&l, big, KF_EXEC_ANSWER_MAX + 8, collect_long, &g),
			 KF_EXEC_LINES_OVERLONG);
	ck_assert_int_eq(g.n, 1);
	ck_assert_int_eq(g.v[0], KF_EXEC_OK);
	ck_assert_uint_eq(l.len, KF_EXEC_ANSWER_MAX + 1);
	ck_assert_int_eq(l.buf[0], 'b');
	ck_assert_int_eq(l.buf[KF_EXEC_ANSWER_MAX], 'b');
}
END_TEST

Suite *suite_exec_answer(void)
{
	Suite *s = suite_create("exec_answer");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, parse_verdicts);
	tcase_add_test(tc, parse_cr);
	tcase_add_test(tc, parse_invalid);
	tcase_add_test(tc, parse_nul);
	suite_add_tcase(s, tc);
	tc = tcase_create("lines");
	tcase_add_test(tc, lines_across_pushes);
	tcase_add_test(tc, lines_stop);
	tcase_add_test(tc, lines_longest_fits);
	tcase_add_test(tc, lines_overlong);
	suite_add_tcase(s, tc);
	return s;
}
