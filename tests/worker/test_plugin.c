/*
 * test_plugin: a handler plugin for the worker suite.  What it answers
 * depends on the record's value:
 *   "ok"          KFORK_OK
 *   "fail"        KFORK_FAIL, reason "bad value"
 *   "retry"       KFORK_RETRY, reason "busy", every time
 *   "retry2"      KFORK_RETRY until the third attempt, then KFORK_OK
 *   "weird"       returns 42 (not a status)
 *   "abort"       abort(): the worker dies on it
 * and it appends what it saw to the file named by the config's `arg`:
 *   "init ABI ID\n" once, "TOPIC P OFFSET ATTEMPT KEY VALUE H=K:V,...\n"
 *   per call, "fini\n" at the end.  arg "refuse" makes init fail.
 * Built with -DTEST_FUTURE_ABI it declares an ABI newer than any worker's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kfork/handler.h"

#ifdef TEST_FUTURE_ABI
__attribute__((visibility("default"))) const unsigned int kfork_handler_abi = 999;
#else
KFORK_HANDLER_ABI;
#endif

struct state {
	FILE *out;
};

int kfork_handler_init(const struct kfork_handler_info *info, void **state)
{
	if (strcmp(info->arg, "refuse") == 0) {
		snprintf(info->error, info->error_size, "refused by test");
		return 1;
	}
	struct state *s = calloc(1, sizeof(*s));
	if (!s)
		return 1;
	s->out = fopen(info->arg, "a");
	if (!s->out) {
		snprintf(info->error, info->error_size, "cannot open %s", info->arg);
		free(s);
		return 1;
	}
	fprintf(s->out, "init %u %d\n", info->abi_version, info->worker_id);
	fflush(s->out);
	*state = s;
	return 0;
}

static int is(const struct kfork_record *r, const char *v)
{
	return r->value_len == (int32_t)strlen(v) && memcmp(r->value, v, strlen(v)) == 0;
}

int kfork_handler_process(void *state, const struct kfork_record *r)
{
	struct state *s = state;

	fprintf(s->out, "%s %d %lld %u %.*s %.*s", r->topic, (int)r->partition,
		(long long)r->offset, r->attempt, r->key ? (int)r->key_len : 1,
		r->key ? (const char *)r->key : "-", r->value ? (int)r->value_len : 1,
		r->value ? (const char *)r->value : "-");
	fputs(" H=", s->out);
	for (size_t i = 0; i < r->header_count; i++)
		fprintf(s->out, "%s%.*s:%.*s", i ? "," : "", (int)r->headers[i].key_len,
			r->headers[i].key,
			r->headers[i].value ? (int)r->headers[i].value_len : 1,
			r->headers[i].value ? (const char *)r->headers[i].value : "-");
	fputc('\n', s->out);
	fflush(s->out);

	if (is(r, "fail")) {
		snprintf(r->reason, r->reason_size, "bad value");
		return KFORK_FAIL;
	}
	if (is(r, "retry")) {
		snprintf(r->reason, r->reason_size, "busy");
		return KFORK_RETRY;
	}
	if (is(r, "retry2"))
		return r->attempt < 3 ? KFORK_RETRY : KFORK_OK;
	if (is(r, "weird"))
		return 42;
	if (is(r, "abort"))
		abort();
	return KFORK_OK;
}

void kfork_handler_fini(void *state)
{
	struct state *s = state;

	fputs("fini\n", s->out);
	fclose(s->out);
	free(s);
}
