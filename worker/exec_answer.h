/*
 * exec_answer: what the exec handler (h_exec.c) reads from its command's
 * stdout, as pure code without a process: the line splitter over a fixed
 * buffer and the parser of one answer line.  Nothing here does I/O or
 * allocates; the fuzzer (tests/fuzz/fuzz_exec.c) and the unit tests drive
 * it with bytes.
 *
 * Grammar of an answer line (README "Handlers", etc/examples/README.md),
 * after one trailing '\r' is dropped and the '\n' replaced by a NUL:
 *
 *	ok
 *	retry | retry SP REASON
 *	fail  | fail SP REASON
 *
 * REASON is anything up to the end of the line, possibly empty.  The line
 * is read as a C string: a NUL byte in it ends it, and what follows the
 * NUL is ignored ("ok\0junk" is ok; "fail a\0b" fails with reason "a").
 */
#ifndef KF_EXEC_ANSWER_H
#define KF_EXEC_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

/* The longest answer line, its '\n' not counted (a '\r' before it is). */
#define KF_EXEC_ANSWER_MAX 4094

enum kf_exec_verdict {
	KF_EXEC_INVALID = 0,        /* not an answer: the command broke the protocol */
	KF_EXEC_OK,
	KF_EXEC_RETRY,
	KF_EXEC_FAIL,
};

/*
 * Parse one answer line: line[0..len) without its '\n'.  line[len] must be
 * writable (it is the '\n' in the splitter's buffer): a trailing '\r' is
 * dropped and the line NUL-terminated in place, so afterwards line is the
 * C string that was parsed (for messages).  *reason is set to the reason
 * of a retry or fail, pointing into line ("" when none: the NUL at its
 * end), to the empty string at the end of "ok", and to NULL for
 * KF_EXEC_INVALID.
 */
enum kf_exec_verdict kf_exec_answer_parse(char *line, size_t len, const char **reason);

/*
 * One line for the splitter's callback: line[0..len) without its '\n';
 * line[len] is that '\n' and may be overwritten (kf_exec_answer_parse
 * does).  Return false to stop splitting.
 */
typedef bool kf_exec_line_fn(void *opaque, char *line, size_t len);

enum kf_exec_lines_rc {
	KF_EXEC_LINES_MORE = 0,     /* every whole line given; room for more */
	KF_EXEC_LINES_STOPPED,      /* the callback returned false */
	KF_EXEC_LINES_OVERLONG,     /* KF_EXEC_ANSWER_MAX + 1 bytes and no '\n' */
};

/*
 * The splitter: bytes not yet ended by a '\n' wait in buf.  Zero it (or
 * kf_exec_lines_reset) before the first use and for each new command.
 * Once a call returned OVERLONG or STOPPED the splitter is done with this
 * stream (buf holds the overlong line, or what followed the stopping
 * line); reset it before reuse.
 */
struct kf_exec_lines {
	char buf[KF_EXEC_ANSWER_MAX + 1];
	size_t len;
};

static inline void kf_exec_lines_reset(struct kf_exec_lines *l)
{
	l->len = 0;
}

/* Where the next bytes go (to read(2) into directly) and how many fit;
 * 0 only after OVERLONG. */
static inline char *kf_exec_lines_tail(struct kf_exec_lines *l, size_t *room)
{
	*room = sizeof(l->buf) - l->len;
	return l->buf + l->len;
}

/*
 * n bytes were written at the tail (n <= room): give fn each whole line,
 * in order, then keep the rest.  OVERLONG when the rest fills the buffer
 * (a line of more than KF_EXEC_ANSWER_MAX bytes before its '\n'); with no
 * room left at all (n == 0 after OVERLONG) it is OVERLONG again.
 */
enum kf_exec_lines_rc kf_exec_lines_push(struct kf_exec_lines *l, size_t n,
					 kf_exec_line_fn *fn, void *opaque);

/*
 * Copy data[0..n) in and split it, as many pushes as the buffer needs;
 * stops at the first STOPPED or OVERLONG (the bytes after that point are
 * not taken).
 */
enum kf_exec_lines_rc kf_exec_lines_feed(struct kf_exec_lines *l, const void *data, size_t n,
					 kf_exec_line_fn *fn, void *opaque);

#endif
