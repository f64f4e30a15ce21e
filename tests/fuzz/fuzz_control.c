/*
 * fuzz_control: the control socket's command reader, kf_control_request()
 * (supervisor/control.c).
 *
 * Input: byte 0 flags (bit 0: eof, bit 1: full on the last read; bits 2-3
 * what the command callback does: 0 appends a fixed answer, 1 nothing,
 * 2 fails (sets KF_ENOMEM on the reply), 3 answers like kforkd: "ok\n"
 * for a command kforkctl sends, "error unknown command\n" else); bytes
 * 1-2 (little endian) the split point, folded into the request's length;
 * the rest is the request, cut at KF_CONTROL_MAX_LINE + 1 bytes, reqsrv's
 * limit for the control socket.
 *
 * The request arrives as two reads, as from a socket: the part before the
 * split with neither flag, and, when that returned false, the whole with
 * the input's flags.  The reference below says what the answer must be,
 * from control.h's contract:
 *   - false (wait) exactly when there is no '\n' and neither eof nor full,
 *     with the reply empty and the callback not called;
 *   - no '\n' and full: exactly "error command line too long\n";
 *   - else the line is up to the first '\n' (all of it at eof), less one
 *     '\r' before it; over KF_CONTROL_MAX_LINE bytes it is too long, the
 *     same answer; not a command (empty, a NUL, a byte outside 0x21-0x7e
 *     but single spaces between words) exactly
 *     "error malformed command line\n";
 *   - a command is given to the callback once, as exactly that line, and
 *     the reply is exactly what the callback wrote: control.c adds nothing.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "control.h"
#include "err.h"
#include "fuzz.h"
#include "wire.h"

#define ANSWER "ok\n{\"state\": \"stable\"}\n"
#define TOO_LONG "error command line too long\n"
#define MALFORMED "error malformed command line\n"
#define UNKNOWN "error unknown command\n"

enum cmd_mode { CMD_TEXT, CMD_EMPTY, CMD_FAIL, CMD_KFORKD };

struct call {
	enum cmd_mode mode;
	int calls;
	size_t cmd_len;
	char cmd[KF_CONTROL_MAX_LINE + 1];
};

static bool known_command(const char *cmd)
{
	static const char *const known[] = { "status", "stop", "reload", "quiet", "resume",
					     "metrics" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(cmd, known[i]) == 0)
			return true;
	return false;
}

static void on_command(void *opaque, const char *cmd, struct kf_wr *reply)
{
	struct call *c = opaque;
	c->calls++;
	/* What the callback may rely on: a string of at most
	 * KF_CONTROL_MAX_LINE bytes (checked before it is copied). */
	c->cmd_len = strlen(cmd);
	KF_FUZZ_CHECK(c->cmd_len <= KF_CONTROL_MAX_LINE);
	memcpy(c->cmd, cmd, c->cmd_len + 1);
	switch (c->mode) {
	case CMD_TEXT:
		kf_wr_raw(reply, ANSWER, strlen(ANSWER));
		break;
	case CMD_EMPTY:
		break;
	case CMD_FAIL:
		reply->err = KF_ENOMEM;
		break;
	case CMD_KFORKD:
		if (known_command(cmd))
			kf_wr_raw(reply, "ok\n", 3);
		else
			kf_wr_raw(reply, UNKNOWN, strlen(UNKNOWN));
		break;
	}
}

/* The reference: is s[0..n) a command as control.h defines it?  Words of
 * bytes 0x21-0x7e separated by single spaces, nothing else. */
static bool ref_is_command(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];
		if (b >= 0x21 && b <= 0x7e)
			continue;
		if (b != ' ' || i == 0 || i == n - 1 || s[i + 1] == ' ')
			return false;
	}
	return true;
}

static bool reply_is(const struct kf_wr *reply, const char *s)
{
	/* An empty writer's buf may be NULL: no memcmp on it. */
	return kf_wr_ok(reply) && reply->len == strlen(s) &&
	       (reply->len == 0 || memcmp(reply->buf, s, reply->len) == 0);
}

/* done: what the last call returned for req[0..len) with eof/full. */
static void check(const char *req, size_t len, bool eof, bool full, bool done,
		  const struct kf_wr *reply, const struct call *c)
{
	const char *nl = memchr(req, '\n', len);
	if (!done) {
		KF_FUZZ_CHECK(!nl && !eof && !full);
		KF_FUZZ_CHECK(reply->len == 0 && kf_wr_ok(reply) && c->calls == 0);
		return;
	}
	KF_FUZZ_CHECK(nl || eof || full);
	size_t n = nl ? (size_t)(nl - req) : len;
	if (n > 0 && req[n - 1] == '\r')
		n--;
	if ((!nl && full) || n > KF_CONTROL_MAX_LINE) {
		KF_FUZZ_CHECK(c->calls == 0 && reply_is(reply, TOO_LONG));
		return;
	}
	if (!ref_is_command(req, n)) {
		KF_FUZZ_CHECK(c->calls == 0 && reply_is(reply, MALFORMED));
		return;
	}
	KF_FUZZ_CHECK(c->calls == 1);
	KF_FUZZ_CHECK(c->cmd_len == n && memcmp(c->cmd, req, n) == 0);
	switch (c->mode) {
	case CMD_TEXT:
		KF_FUZZ_CHECK(reply_is(reply, ANSWER));
		break;
	case CMD_EMPTY:
		KF_FUZZ_CHECK(reply_is(reply, ""));
		break;
	case CMD_FAIL:
		KF_FUZZ_CHECK(reply->err == KF_ENOMEM && reply->len == 0);
		break;
	case CMD_KFORKD:
		KF_FUZZ_CHECK(reply_is(reply, known_command(c->cmd) ? "ok\n" : UNKNOWN));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	bool eof = data[0] & 1, full = data[0] & 2;
	struct call c = { .mode = (enum cmd_mode)((data[0] >> 2) & 3) };
	const char *req = (const char *)data + 3;
	size_t len = size - 3;
	if (len > KF_CONTROL_MAX_LINE + 1)
		len = KF_CONTROL_MAX_LINE + 1;
	size_t split = (size_t)(data[1] | data[2] << 8) % (len + 1);

	struct kf_wr reply;
	kf_wr_init(&reply);
	bool done = false;
	if (split < len) {
		done = kf_control_request(req, split, false, false, on_command, &c, &reply);
		if (done) {
			len = split;
			eof = full = false;
		} else {
			check(req, split, false, false, false, &reply, &c);
		}
	}
	if (!done)
		done = kf_control_request(req, len, eof, full, on_command, &c, &reply);
	check(req, len, eof, full, done, &reply, &c);
	kf_wr_free(&reply);
	return 0;
}
