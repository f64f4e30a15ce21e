/*
 * fuzz_config: kforkd.conf loading, kf_config_load() (lib/kfconfig.c).
 *
 * Input: the whole config file.  It is written to DIR/fuzz.conf, DIR a
 * private directory made once per process ($TMPDIR or /tmp, removed at
 * exit), so an @include resolves next to it and two runs never share it.
 * Checks:
 *   - an error is KF_ERR or KF_ENOMEM with err "FILE:LINE: message": FILE
 *     the config's path, or a file under DIR for one named by @include,
 *     LINE a decimal number from 1, then a message;
 *   - an error leaves the struct zeroed;
 *   - KF_OK gives a config whose path is ours, with at least one topic
 *     and NULL-terminated topic and command lists; kf_config_free is safe
 *     twice.
 * Settings that name other files (password_file, ca_file, @include) are
 * taken as written: a fuzzer that finds a FIFO or a terminal there blocks
 * like kforkd would.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fuzz.h"
#include "kfconfig.h"

/*
 * libconfig 1.5 (Debian's) leaks a string token it drops while recovering
 * from a syntax error (libconfig issue 142, fixed in 1.7.3): not ours, so
 * LeakSanitizer ignores what libconfig allocates.  The sanitizer runtime
 * calls this hook; it is the one other external symbol here.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

static char dir[256];
static char path[300];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp || strlen(tmp) > 200)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/kf-fuzz-config.XXXXXX", tmp);
	KF_FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/fuzz.conf", dir);
	atexit(cleanup);
}

static bool write_input(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return false;
	bool ok = fwrite(data, 1, size, f) == size;
	return fclose(f) == 0 && ok;
}

/* "NUMBER: message" at p: a line from 1, then some message.  Not checked:
 * that the message is printable.  Setting values are quoted as written,
 * so a "\n" or control character in, say, ca_file reaches err as is. */
static void check_line_msg(const char *p)
{
	size_t digits = 0;
	KF_FUZZ_CHECK(*p >= '1' && *p <= '9');
	while (p[digits] >= '0' && p[digits] <= '9')
		digits++;
	KF_FUZZ_CHECK(digits <= 10);
	KF_FUZZ_CHECK(p[digits] == ':' && p[digits + 1] == ' ');
	KF_FUZZ_CHECK(p[digits + 2] != '\0');
}

static void check_err(const char *err)
{
	size_t pl = strlen(path), dl = strlen(dir);
	if (strncmp(err, path, pl) == 0 && err[pl] == ':' && err[pl + 1] >= '1' &&
	    err[pl + 1] <= '9') {
		check_line_msg(err + pl + 1);
		return;
	}
	/* An @include'd file: DIR/NAME:LINE: ... where NAME is as written in
	 * the input, so it may hold ':' itself; some ":LINE: " must follow. */
	KF_FUZZ_CHECK(strncmp(err, dir, dl) == 0 && err[dl] == '/');
	const char *p = err + dl + 1;
	for (; (p = strchr(p, ':')) != NULL; p++) {
		if (p[1] < '1' || p[1] > '9')
			continue;
		size_t d = 1;
		while (p[1 + d] >= '0' && p[1 + d] <= '9')
			d++;
		if (p[1 + d] == ':' && p[2 + d] == ' ')
			break;
	}
	KF_FUZZ_CHECK(p != NULL);
	check_line_msg(p + 1);
}


static bool zeroed(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void check_ok(struct kf_config *cfg)
{
	KF_FUZZ_CHECK(cfg->path && strcmp(cfg->path, path) == 0);
	KF_FUZZ_CHECK(cfg->kafka.n_topics >= 1 && cfg->kafka.topics);
	for (int i = 0; i < cfg->kafka.n_topics; i++)
		KF_FUZZ_CHECK(cfg->kafka.topics[i] && cfg->kafka.topics[i][0]);
	KF_FUZZ_CHECK(cfg->kafka.topics[cfg->kafka.n_topics] == NULL);
	KF_FUZZ_CHECK(cfg->kafka.bootstrap[0] && cfg->kafka.group[0]);
	const struct kf_config_handler *h = &cfg->workers.handler;
	KF_FUZZ_CHECK(h->command != NULL && h->n_command >= 0);
	KF_FUZZ_CHECK(h->command[h->n_command] == NULL);
	KF_FUZZ_CHECK(cfg->workers.count >= 1);
	KF_FUZZ_CHECK((cfg->kafka.security.password != NULL) ==
		      (cfg->kafka.security.protocol == KF_CFG_SASL_PLAINTEXT ||
		       cfg->kafka.security.protocol == KF_CFG_SASL_SSL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0])
		setup();
	if (!write_input(data, size))
		return 0;
	struct kf_config cfg;
	char err[1024];
	memset(err, 'x', sizeof(err));
	int rc = kf_config_load(path, &cfg, err, sizeof(err));
	if (rc == KF_OK) {
		check_ok(&cfg);
		kf_config_free(&cfg);
		KF_FUZZ_CHECK(zeroed(&cfg, sizeof(cfg)));
		kf_config_free(&cfg);
		return 0;
	}
	KF_FUZZ_CHECK(rc == KF_ERR || rc == KF_ENOMEM);
	KF_FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	check_err(err);
	KF_FUZZ_CHECK(zeroed(&cfg, sizeof(cfg)));
	return 0;
}
