/*
 * exec_answer: the exec handler's answer reader without the process (see
 * exec_answer.h).  Pure: no I/O, no allocation, no logging.
 */
#include "config.h"

#include <string.h>

#include "exec_answer.h"

/* Is line the word w alone or w SP REASON?  Then *reason is what follows
 * the space, or the empty string at the end of line. */
static bool is_verb(const char *line, const char *w, const char **reason)
{
	size_t wl = strlen(w);
	if (strncmp(line, w, wl) != 0 || (line[wl] != '\0' && line[wl] != ' '))
		return false;
	*reason = line[wl] ? line + wl + 1 : line + wl;
	return true;
}

enum kf_exec_verdict kf_exec_answer_parse(char *line, size_t len, const char **reason)
{
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	*reason = NULL;
	if (strcmp(line, "ok") == 0) {
		*reason = line + 2;
		return KF_EXEC_OK;
	}
	if (is_verb(line, "fail", reason))
		return KF_EXEC_FAIL;
	if (is_verb(line, "retry", reason))
		return KF_EXEC_RETRY;
	return KF_EXEC_INVALID;
}

/* Keep buf[from..len) as the start of the next line. */
static void keep_rest(struct kf_exec_lines *l, const char *from)
{
	size_t rest = l->len - (size_t)(from - l->buf);
	memmove(l->buf, from, rest);
	l->len = rest;
}

enum kf_exec_lines_rc kf_exec_lines_push(struct kf_exec_lines *l, size_t n,
					 kf_exec_line_fn *fn, void *opaque)
{
	/* What was kept from before holds no '\n': search the new bytes. */
	char *line = l->buf, *from = l->buf + l->len, *nl;
	l->len += n;
	char *end = l->buf + l->len;
	while ((nl = memchr(from, '\n', (size_t)(end - from))) != NULL) {
		bool go = fn(opaque, line, (size_t)(nl - line));
		line = from = nl + 1;
		if (!go) {
			keep_rest(l, line);
			return KF_EXEC_LINES_STOPPED;
		}
	}
	keep_rest(l, line);
	return l->len == sizeof(l->buf) ? KF_EXEC_LINES_OVERLONG : KF_EXEC_LINES_MORE;
}

enum kf_exec_lines_rc kf_exec_lines_feed(struct kf_exec_lines *l, const void *data, size_t n,
					 kf_exec_line_fn *fn, void *opaque)
{
	const char *d = data;
	for (;;) {
		size_t room;
		char *tail = kf_exec_lines_tail(l, &room);
		size_t k = n < room ? n : room;
		if (k) {        /* data may be NULL when n is 0 */
			memcpy(tail, d, k);
			d += k;
			n -= k;
		}
		enum kf_exec_lines_rc rc = kf_exec_lines_push(l, k, fn, opaque);
		if (rc != KF_EXEC_LINES_MORE || n == 0)
			return rc;
	}
}
