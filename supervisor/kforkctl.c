/*
 * kforkctl: talk to a running kforkd over its control socket.
 *
 *   kforkctl [-s SOCKET | -c FILE] status|stop|reload|quiet|resume|metrics
 *
 * Sends the command line, prints what follows the answer's "ok" line on
 * stdout (exit 0), or the "error" line's message on stderr (exit 1).
 * Exit 2 for a usage error, 3 when kforkd cannot be reached.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "kfconfig.h"
#include "wire.h"

#define DEFAULT_SOCKET "/run/kfork/kforkd.sock"
/* Longer than the server's own deadline, so its answer wins. */
#define TIMEOUT_MS ((int)(KF_CONTROL_TIMEOUT_S * 1000) + 5000)

static const char *const commands[] = { "status", "stop", "reload", "quiet", "resume",
					"metrics" };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kforkctl [-s SOCKET | -c FILE] COMMAND\n"
		"  -s, --socket SOCKET  kforkd's control socket (default %s)\n"
		"  -c, --config FILE    read control.socket from kforkd's config file\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n"
		"Commands:\n"
		"  status   the state of kforkd as one JSON object\n"
		"  stop     graceful shutdown: drain, commit, leave the group, exit\n"
		"  reload   re-read the config file (as SIGHUP)\n"
		"  quiet    stop taking new records, keep the assignment and heartbeats\n"
		"  resume   undo quiet\n"
		"  metrics  the Prometheus metrics text\n"
		"Exit status: 0 done, 1 kforkd answered with an error, 2 usage, 3 kforkd\n"
		"cannot be reached.\n", DEFAULT_SOCKET);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send cmd, read the whole answer into out.  0, or 3 with a message. */
static int exchange(const char *path, const char *cmd, struct kf_wr *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "kforkctl: %s: path too long\n", path);
		return 3;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "kforkctl: cannot reach kforkd at %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 3;
	}
	char line[KF_CONTROL_MAX_LINE + 2];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "kforkctl: %s: send: %s\n", path, strerror(errno));
		close(fd);
		return 3;
	}
	long long end = now_ms() + TIMEOUT_MS;
	for (;;) {
		long long left = end - now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			fprintf(stderr, "kforkctl: %s: %s\n", path,
				rc == 0 ? "no answer in time" : strerror(errno));
			close(fd);
			return 3;
		}
		uint8_t *p = kf_wr_reserve(out, 65536);
		if (!p) {
			fprintf(stderr, "kforkctl: out of memory\n");
			close(fd);
			return 3;
		}
		ssize_t got = read(fd, p, 65536);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "kforkctl: %s: read: %s\n", path, strerror(errno));
			close(fd);
			return 3;
		}
		if (got == 0)
			break;
		out->len += (size_t)got;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *conf = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "s:c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'c': conf = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("kforkctl %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || (sock && conf)) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	bool known = false;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		known |= strcmp(cmd, commands[i]) == 0;
	if (!known) {
		fprintf(stderr, "kforkctl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		return 2;
	}
	struct kf_config cfg;
	bool have_cfg = false;
	if (conf) {
		char err[1024];
		if (kf_config_load(conf, &cfg, err, sizeof(err)) != KF_OK) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		have_cfg = true;
		sock = cfg.control.socket;
		if (!sock[0]) {
			fprintf(stderr, "kforkctl: %s: control.socket is \"\": kforkd has no"
				" control socket\n", conf);
			kf_config_free(&cfg);
			return 3;
		}
	}
	struct kf_wr out;
	kf_wr_init(&out);
	int rc = exchange(sock ? sock : DEFAULT_SOCKET, cmd, &out);
	if (have_cfg)
		kf_config_free(&cfg);
	if (rc != 0) {
		kf_wr_free(&out);
		return rc;
	}
	const char *s = (const char *)out.buf;
	const char *nl = out.len ? memchr(s, '\n', out.len) : NULL;
	size_t first = nl ? (size_t)(nl - s) : out.len;
	if (first == 2 && memcmp(s, "ok", 2) == 0) {
		if (nl)
			fwrite(nl + 1, 1, out.len - first - 1, stdout);
		rc = 0;
	} else if (first > 6 && memcmp(s, "error ", 6) == 0) {
		fprintf(stderr, "kforkctl: %.*s\n", (int)(first - 6), s + 6);
		rc = 1;
	} else {
		fprintf(stderr, "kforkctl: unexpected answer from kforkd (%zu bytes)\n", out.len);
		rc = 3;
	}
	kf_wr_free(&out);
	return rc;
}
