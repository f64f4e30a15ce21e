/*
 * replay: run a fuzz target over files without libFuzzer, so `make check`
 * replays every seed corpus with the ordinary compiler (and, configured
 * with --enable-sanitizers, under ASan/UBSan).
 *
 *	replay_X [FILE|DIR]...
 *
 * Without arguments it replays $srcdir/tests/fuzz/corpus/KF_FUZZ_NAME, the
 * target's own corpus ($srcdir is set by automake's test driver).  Each
 * input is copied into a buffer of exactly its size, as libFuzzer does, so
 * a read one past the end is an ASan report.  Exit status 0 when every
 * input ran (a failing check aborts), 1 when a file could not be read or
 * a directory held no inputs.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef KF_FUZZ_NAME
#error "compile with -DKF_FUZZ_NAME=\"target\""
#endif

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	bool bad = ferror(f) || !buf;
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read failed\n", path);
		free(buf);
		return -1;
	}
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in dir, in name order (reproducible runs); returns
 * how many ran, or -1. */
static int run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (!nn) {
				rc = -1;
				break;
			}
			names = nn;
		}
		size_t plen = strlen(dir) + strlen(e->d_name) + 2;
		if (!(names[n] = malloc(plen))) {
			rc = -1;
			break;
		}
		snprintf(names[n++], plen, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	int ran = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(names[i]) < 0)
				rc = -1;
			else
				ran++;
		}
		free(names[i]);
	}
	free(names);
	return rc < 0 ? -1 : ran;
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path) < 0 ? -1 : 1;
	int ran = run_dir(path);
	if (ran == 0)
		fprintf(stderr, "replay: %s: no inputs\n", path);
	return ran > 0 ? ran : -1;
}

int main(int argc, char **argv)
{
	int total = 0;
	bool failed = false;
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			int ran = run_path(argv[i]);
			failed |= ran < 0;
			total += ran > 0 ? ran : 0;
		}
	} else {
		const char *srcdir = getenv("srcdir");
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", srcdir ? srcdir : ".",
			 KF_FUZZ_NAME);
		int ran = run_path(dir);
		failed = ran < 0;
		total = ran > 0 ? ran : 0;
	}
	printf("replay %s: %d inputs%s\n", KF_FUZZ_NAME, total, failed ? ", FAILED" : "");
	return failed ? 1 : 0;
}
