/*
 * tls: the transport against a real `openssl s_server` on 127.0.0.1.
 *
 * The certificates are made by the openssl tool into a temporary directory
 * once per run: a CA, a server certificate for localhost / 127.0.0.1, one
 * for "otherhost", an expired one (openssl ca with dates in the past), a
 * self-signed one, and a client certificate whose key is encrypted.  Each
 * test starts its own s_server (-rev: it answers every line reversed) on
 * an ephemeral port and kills it by pid; the server also dies with the test
 * process (PR_SET_PDEATHSIG) should an assertion end the test early.
 *
 * Most tests drive the transport's calls directly with poll(), so each
 * failure's message can be asserted exactly; the last ones put it under a
 * real kf_conn to check conn's handshake state and error path.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "err.h"
#include "proto_msgs.h"
#include "resolve.h"
#include "suites.h"
#include "tls.h"

static char dir[64];            /* the certificates; empty when not made */
static pid_t server_pid = -1;
static FILE *server_out;        /* s_server's stdout */

static const char gen_script[] =
	"set -e\n"
	"K='genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256'\n"
	"openssl $K -out ca.key\n"
	"openssl req -x509 -new -key ca.key -subj /CN=kfork-test-ca -days 2 -out ca.pem\n"
	"openssl $K -out srv.key\n"
	"openssl req -new -key srv.key -subj /CN=localhost -out srv.csr\n"
	"echo 'subjectAltName=DNS:localhost,IP:127.0.0.1' > srv.ext\n"
	"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2"
	" -extfile srv.ext -out srv.pem\n"
	"echo 'subjectAltName=DNS:otherhost' > oth.ext\n"
	"openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days 2"
	" -extfile oth.ext -out oth.pem\n"
	"openssl req -x509 -new -key srv.key -subj /CN=localhost"
	" -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 -out self.pem\n"
	"printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\nserial=serial\\n"
	"new_certs_dir=.\\ndefault_md=sha256\\npolicy=p\\nx509_extensions=e\\n"
	"unique_subject=no\\n[p]\\ncommonName=supplied\\n[e]\\n"
	"subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ca.cnf\n"
	": > index.txt; echo 10 > serial\n"
	"openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in srv.csr"
	" -startdate 20200101000000Z -enddate 20210101000000Z -notext -out exp.pem\n"
	"echo 's3cret phrase' > cli.pass\n"
	"openssl $K -aes256 -pass file:cli.pass -out cli.key\n"
	"openssl req -new -key cli.key -passin file:cli.pass -subj /CN=client -out cli.csr\n"
	"openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -set_serial 5 -days 2"
	" -out cli.pem\n"
	"echo wrong > bad.pass\n";

static void make_certs(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kf-tls-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return;
	}
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "cd %s && sh ./gen.sh > gen.log 2>&1", dir);
	char path[128];
	snprintf(path, sizeof(path), "%s/gen.sh", dir);
	FILE *f = fopen(path, "w");
	if (!f || fputs(gen_script, f) == EOF || fclose(f) != 0 || system(cmd) != 0) {
		fprintf(stderr, "tls: making certificates in %s failed (see gen.log)\n", dir);
		dir[0] = '\0';
	}
}

static void remove_certs(void)
{
	if (!dir[0])
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "tls: cannot remove %s\n", dir);
}

static const char *cert(const char *name)
{
	/* Enough for every path one test holds at once. */
	static char bufs[32][128];
	static int next;
	char *b = bufs[next++ % 32];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

/*
 * Starts `openssl s_server -rev` with the given certificate and key plus
 * extra arguments (NULL-terminated); returns its port, reading the ACCEPT
 * line it prints.  The pid goes to server_pid.
 */
static int start_server(const char *crt, const char *key, const char *const *extra)
{
	ck_assert_msg(dir[0], "certificates were not made");
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(pfd[1], 1);
		int dn = open("/dev/null", O_WRONLY);
		dup2(dn, 2);
		close(pfd[0]);
		close(pfd[1]);
		const char *argv[24] = { "openssl", "s_server", "-accept", "127.0.0.1:0", "-rev",
					 "-cert", crt, "-key", key };
		int n = 9;
		for (int i = 0; extra && extra[i] && n < 23; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execvp("openssl", (char *const *)argv);
		_exit(127);
	}
	server_pid = pid;
	close(pfd[1]);
	FILE *f = fdopen(pfd[0], "r");
	char line[256];
	int port = 0;
	while (!port && fgets(line, sizeof(line), f)) {
		const char *colon = strrchr(line, ':');
		if (strncmp(line, "ACCEPT", 6) == 0 && colon)
			port = atoi(colon + 1);
	}
	/* s_server keeps logging to the pipe, a few lines per connection:
	 * keep it open (a closed pipe would kill the server) until the end. */
	server_out = f;
	ck_assert_int_gt(port, 0);
	return port;
}

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
	if (server_out) {
		fclose(server_out);
		server_out = NULL;
	}
}

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ne(fd, -1);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	ck_assert(rc == 0 || errno == EINPROGRESS);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	return fd;
}

static void wait_for(int fd, int want)
{
	struct pollfd p = { .fd = fd };
	if (want & EV_READ)
		p.events |= POLLIN;
	if (want & EV_WRITE)
		p.events |= POLLOUT;
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
}

/* A client: fd plus the transport's state for it. */
struct client {
	const struct kf_transport *tr;
	int fd;
	void *t;
	char err[256];
};

/* Connects and runs the handshake to its end; returns its result. */
static int client_handshake(struct client *cl, struct kf_tls *tls, int port, const char *host)
{
	cl->tr = kf_tls_transport(tls);
	cl->fd = tcp_connect(port);
	cl->err[0] = '\0';
	cl->t = cl->tr->open(cl->tr->arg, cl->fd, host, cl->err, sizeof(cl->err));
	ck_assert_msg(cl->t, "open: %s", cl->err);
	for (int i = 0; i < 100; i++) {
		int want = 0;
		int rc = cl->tr->handshake(cl->t, &want, cl->err, sizeof(cl->err));
		if (rc != KF_EAGAIN)
			return rc;
		ck_assert(want == EV_READ || want == EV_WRITE);
		wait_for(cl->fd, want);
	}
	ck_abort_msg("handshake did not finish");
	return KF_ERR;
}

static void client_close(struct client *cl)
{
	cl->tr->close(cl->t);
	close(cl->fd);
}

static void client_write(struct client *cl, const char *s)
{
	size_t off = 0, len = strlen(s);
	while (off < len) {
		int want = 0;
		ssize_t w = cl->tr->write(cl->t, s + off, len - off, &want, cl->err, sizeof(cl->err));
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		ck_assert_msg(want, "write: %s", cl->err);
		wait_for(cl->fd, want);
	}
}

/* Reads until len bytes came, the peer closed (returns what came) or an
 * error (returns -1, message in cl->err). */
static ssize_t client_read(struct client *cl, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		int want = 0;
		ssize_t r = cl->tr->read(cl->t, buf + got, len - got, &want, cl->err,
					 sizeof(cl->err));
		if (r == 0)
			break;
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (!want)
			return -1;
		wait_for(cl->fd, want);
	}
	return (ssize_t)got;
}

static struct kf_tls *mk_tls(const char *ca, const char *crt, const char *key, const char *pass,
			     bool verify)
{
	struct kf_tls_conf conf = {
		.ca_file = ca, .cert_file = crt, .key_file = key, .key_password_file = pass,
		.verify_peer = verify,
	};
	char err[256] = "";
	struct kf_tls *tls = kf_tls_new(&conf, err, sizeof(err));
	ck_assert_msg(tls, "kf_tls_new: %s", err);
	return tls;
}

/* Handshake, then a line each way through s_server -rev. */
static void assert_exchange(struct client *cl)
{
	client_write(cl, "hello tls\n");
	char buf[16] = "";
	ck_assert_int_eq(client_read(cl, buf, 10), 10);
	ck_assert_mem_eq(buf, "slt olleh\n", 10);
}

static void assert_handshake_fails(const char *server_cert, const char *host, const char *want)
{
	int port = start_server(cert(server_cert), cert("srv.key"), NULL);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), NULL, NULL, NULL, true);
	struct client cl;
	/* a certificate that fails verification: KF_EAUTH, not retried */
	ck_assert_int_eq(client_handshake(&cl, tls, port, host), KF_EAUTH);
	char exp[256];
	snprintf(exp, sizeof(exp), "TLS handshake with %s:%d failed: %s", host, port, want);
	ck_assert_str_eq(cl.err, exp);
	client_close(&cl);
	kf_tls_free(tls);
	stop_server();
}

START_TEST(trusted_handshake_and_echo)
{
	int port = start_server(cert("srv.pem"), cert("srv.key"), NULL);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), "", "", "", true);
	struct client cl;
	ck_assert_int_eq(client_handshake(&cl, tls, port, "localhost"), KF_OK);
	assert_exchange(&cl);
	/* 200 kB cross many records and partial writes both ways. */
	enum { LINES = 20000 };
	static char big[LINES * 10 + 1], back[LINES * 10], want[LINES * 10];
	for (int i = 0; i < LINES; i++) {
		memcpy(big + i * 10, "abcdefghi\n", 10);
		memcpy(want + i * 10, "ihgfedcba\n", 10);
	}
	client_write(&cl, big);
	ck_assert_int_eq(client_read(&cl, back, sizeof(back)), (ssize_t)sizeof(back));
	ck_assert_mem_eq(back, want, sizeof(back));
	client_close(&cl);
	kf_tls_free(tls);
	stop_server();
}
END_TEST

START_TEST(ip_literal_and_tls12)
{
	const char *const extra[] = { "-tls1_2", NULL };
	int port = start_server(cert("srv.pem"), cert("srv.key"), extra);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), NULL, NULL, NULL, true);
	struct client cl;
	ck_assert_int_eq(client_handshake(&cl, tls, port, "127.0.0.1"), KF_OK);
	assert_exchange(&cl);
	client_close(&cl);
	kf_tls_free(tls);
	stop_server();
}
END_TEST

START_TEST(untrusted_certificate)
{
	assert_handshake_fails("self.pem", "localhost",
			       "certificate verify failed: self-signed certificate");
}
END_TEST

START_TEST(hostname_mismatch)
{
	assert_handshake_fails("oth.pem", "localhost", "certificate verify failed: hostname mismatch");
}
END_TEST

START_TEST(ip_mismatch)
{
	assert_handshake_fails("oth.pem", "127.0.0.1",
			       "certificate verify failed: IP address mismatch");
}
END_TEST

START_TEST(expired_certificate)
{
	assert_handshake_fails("exp.pem", "localhost",
			       "certificate verify failed: certificate has expired");
}
END_TEST

/* Under TLS 1.3 the client finishes its handshake before the server judges
 * its (missing) certificate, so the alert comes with the first read. */
START_TEST(client_certificate_required)
{
	const char *const extra[] = { "-Verify", "1", "-CAfile", cert("ca.pem"), NULL };
	int port = start_server(cert("srv.pem"), cert("srv.key"), extra);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), NULL, NULL, NULL, true);
	struct client cl;
	char exp[256];
	if (client_handshake(&cl, tls, port, "localhost") == KF_OK) {
		client_write(&cl, "hello tls\n");
		char buf[16];
		ck_assert_int_eq(client_read(&cl, buf, 10), -1);
		snprintf(exp, sizeof(exp), "TLS read from localhost:%d failed: %s", port,
			 "tlsv13 alert certificate required");
	} else {
		snprintf(exp, sizeof(exp), "TLS handshake with localhost:%d failed: %s", port,
			 "tlsv13 alert certificate required");
	}
	ck_assert_str_eq(cl.err, exp);
	client_close(&cl);
	kf_tls_free(tls);
	stop_server();
}
END_TEST

START_TEST(client_certificate_encrypted_key)
{
	const char *const extra[] = { "-Verify", "1", "-CAfile", cert("ca.pem"), NULL };
	int port = start_server(cert("srv.pem"), cert("srv.key"), extra);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), cert("cli.pem"), cert("cli.key"),
				    cert("cli.pass"), true);
	struct client cl;
	ck_assert_int_eq(client_handshake(&cl, tls, port, "localhost"), KF_OK);
	assert_exchange(&cl);
	client_close(&cl);
	kf_tls_free(tls);
	stop_server();
}
END_TEST

static void assert_new_fails(const struct kf_tls_conf *conf, const char *want_prefix)
{
	char err[256] = "";
	ck_assert_ptr_null(kf_tls_new(conf, err, sizeof(err)));
	ck_assert_msg(strncmp(err, want_prefix, strlen(want_prefix)) == 0, "got \"%s\"", err);
}

START_TEST(bad_configurations)
{
	ck_assert_msg(dir[0], "certificates were not made");
	char want[256];
	struct kf_tls_conf c = { .verify_peer = true, .ca_file = cert("none.pem") };
	snprintf(want, sizeof(want), "cannot load ca_file %s: No such file or directory",
		 cert("none.pem"));
	assert_new_fails(&c, want);

	c = (struct kf_tls_conf){ .cert_file = cert("cli.pem"), .key_file = cert("cli.key") };
	snprintf(want, sizeof(want), "cannot load key_file %s (encrypted keys need key_password_file)",
		 cert("cli.key"));
	assert_new_fails(&c, want);

	c.key_password_file = cert("bad.pass");
	snprintf(want, sizeof(want), "cannot load key_file %s: ", cert("cli.key"));
	assert_new_fails(&c, want);

	c.key_password_file = cert("none.pass");
	snprintf(want, sizeof(want), "cannot read key_password_file %s: No such file or directory",
		 cert("none.pass"));
	assert_new_fails(&c, want);

	c = (struct kf_tls_conf){ .cert_file = cert("cli.pem"), .key_file = cert("srv.key") };
	snprintf(want, sizeof(want), "key_file %s does not match cert_file %s", cert("srv.key"),
		 cert("cli.pem"));
	assert_new_fails(&c, want);

	c = (struct kf_tls_conf){ .key_file = cert("srv.key") };
	assert_new_fails(&c, "key_file is set but cert_file is not");
}
END_TEST

/* verify_peer = false: an untrusted server is accepted, with a warning. */
START_TEST(no_verification_warns)
{
	int port = start_server(cert("self.pem"), cert("srv.key"), NULL);
	struct kf_tls *tls = mk_tls("", NULL, NULL, NULL, false);
	char logpath[128];
	snprintf(logpath, sizeof(logpath), "%s/stderr.log", dir);
	fflush(stderr);
	int saved = dup(2);
	int lf = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(lf, -1);
	dup2(lf, 2);
	close(lf);
	struct client cl;
	int rc = client_handshake(&cl, tls, port, "localhost");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ck_assert_msg(rc == KF_OK, "handshake: %s", cl.err);
	assert_exchange(&cl);
	client_close(&cl);
	kf_tls_free(tls);
	stop_server();

	char log[1024] = "";
	FILE *f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(log, 1, sizeof(log) - 1, f);
	fclose(f);
	log[n] = '\0';
	char want[128];
	snprintf(want, sizeof(want),
		 "tls: localhost:%d: verify_peer is false: the broker's certificate is not checked",
		 port);
	ck_assert_msg(strstr(log, want), "log was \"%s\"", log);
	ck_assert_msg(strstr(log, "WARN") || strstr(log, "warn"), "log was \"%s\"", log);
}
END_TEST

/* s_server -rev ends the session with close_notify on a line "CLOSE". */
START_TEST(close_notify_reads_as_eof)
{
	int port = start_server(cert("srv.pem"), cert("srv.key"), NULL);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), NULL, NULL, NULL, true);
	struct client cl;
	ck_assert_int_eq(client_handshake(&cl, tls, port, "localhost"), KF_OK);
	client_write(&cl, "CLOSE\n");
	char buf[64];
	ssize_t n = client_read(&cl, buf, sizeof(buf));
	ck_assert_msg(n >= 0, "read: %s", cl.err);
	ck_assert_int_lt(n, (ssize_t)sizeof(buf));
	client_close(&cl);
	kf_tls_free(tls);
	stop_server();
}
END_TEST

/* Writing to a broker that died fails with a message, not SIGPIPE. */
START_TEST(write_after_peer_died)
{
	signal(SIGPIPE, SIG_DFL);
	int port = start_server(cert("srv.pem"), cert("srv.key"), NULL);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), NULL, NULL, NULL, true);
	struct client cl;
	ck_assert_int_eq(client_handshake(&cl, tls, port, "localhost"), KF_OK);
	assert_exchange(&cl);
	kill(server_pid, SIGKILL);
	stop_server();
	ssize_t w = 1;
	int want = 0;
	for (int i = 0; i < 100 && (w > 0 || want); i++) {
		want = 0;
		w = cl.tr->write(cl.t, "x\n", 2, &want, cl.err, sizeof(cl.err));
		usleep(10000);
	}
	ck_assert_int_eq(w, -1);
	ck_assert_int_eq(want, 0);
	char prefix[64];
	int n = snprintf(prefix, sizeof(prefix), "TLS write to localhost:%d failed: ", port);
	ck_assert_msg(strncmp(cl.err, prefix, (size_t)n) == 0, "err: %s", cl.err);
	ck_assert_msg(strstr(cl.err, "Broken pipe") || strstr(cl.err, "Connection reset by peer"),
		      "err: %s", cl.err);
	client_close(&cl);
	kf_tls_free(tls);
}
END_TEST

/* A peer that ends the stream instead of answering the ClientHello. */
START_TEST(peer_closes_during_handshake)
{
	ck_assert_msg(dir[0], "certificates were not made");
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	int port = ntohs(sa.sin_port);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), NULL, NULL, NULL, true);
	struct client cl;
	cl.tr = kf_tls_transport(tls);
	cl.fd = tcp_connect(port);
	int afd = accept(lfd, NULL, NULL);
	ck_assert_int_ne(afd, -1);
	/* FIN, but keep the socket so the ClientHello draws no reset. */
	ck_assert_int_eq(shutdown(afd, SHUT_WR), 0);
	cl.t = cl.tr->open(cl.tr->arg, cl.fd, "localhost", cl.err, sizeof(cl.err));
	ck_assert_ptr_nonnull(cl.t);
	int rc, want = 0;
	while ((rc = cl.tr->handshake(cl.t, &want, cl.err, sizeof(cl.err))) == KF_EAGAIN)
		wait_for(cl.fd, want);
	ck_assert_int_eq(rc, KF_EIO);
	char exp[128];
	snprintf(exp, sizeof(exp), "TLS handshake with localhost:%d failed: connection closed by peer",
		 port);
	ck_assert_str_eq(cl.err, exp);
	client_close(&cl);
	kf_tls_free(tls);
	close(afd);
	close(lfd);
}
END_TEST

/* Under kf_conn: the state callback sees the handshake pass or fail. */
struct watch {
	bool reached_apiversions;
	int downs;      /* down or auth_failed */
	int failed;     /* auth_failed */
	int attempts;   /* resolving: connection attempts */
	int err;
	char msg[320];
};

static void on_state(struct kf_conn *c, enum kf_conn_state s, int err, const char *msg,
		     void *opaque)
{
	(void)c;
	struct watch *w = opaque;
	if (s == KF_CONN_APIVERSIONS)
		w->reached_apiversions = true;
	if (s == KF_CONN_RESOLVING)
		w->attempts++;
	if (s == KF_CONN_FAILED)
		w->failed++;
	if ((s == KF_CONN_DOWN || s == KF_CONN_FAILED) && !w->downs++) {
		w->err = err;
		snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
	}
}

static void on_resp(struct kf_conn *c, int err, int16_t ver, void *resp, void *opaque)
{
	(void)c, (void)ver, (void)resp;
	*(int *)opaque = err;
}

static void on_idle_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
}

static void run_loop_for(struct ev_loop *loop, double s)
{
	ev_timer t;
	ev_timer_init(&t, on_idle_timer, s, 0.);
	ev_timer_start(loop, &t);
	while (ev_is_active(&t))
		ev_run(loop, EVRUN_ONCE);
}

/* run_conn with a certificate that fails verification: auth_failed; after
 * that no attempt for longer than the backoff, requests fail with
 * KF_EAUTH at once (from the loop); kf_conn_retry tries once more. */
static void assert_failed_for_good(struct ev_loop *loop, struct kf_conn *c, struct watch *w)
{
	ck_assert_int_eq(kf_conn_state(c), KF_CONN_FAILED);
	ck_assert_str_eq(kf_conn_state_name(KF_CONN_FAILED), "auth_failed");
	run_loop_for(loop, 1.5); /* > backoff_min_ms */
	ck_assert_int_eq(w->attempts, 1);
	ck_assert_int_eq(w->failed, 1);
	static const struct kf_metadata_req md; /* never encoded */
	int got = 1;
	ck_assert_int_eq(kf_conn_send(c, KF_API_METADATA, -1, &md, 0, on_resp, &got), KF_OK);
	ck_assert_int_eq(got, 1); /* not from inside kf_conn_send */
	run_loop_for(loop, 0.05);
	ck_assert_int_eq(got, KF_EAUTH);
	ck_assert_int_eq(w->attempts, 1);
	kf_conn_close(c, KF_ECLOSED, "no effect");
	ck_assert_int_eq(kf_conn_state(c), KF_CONN_FAILED);
	/* the owner says try again: one more attempt, refused the same way */
	kf_conn_retry(c);
	ck_assert_int_eq(kf_conn_state(c), KF_CONN_DOWN);
	got = 1;
	ck_assert_int_eq(kf_conn_send(c, KF_API_METADATA, -1, &md, 0, on_resp, &got), KF_OK);
	time_t end = time(NULL) + 5;
	while (time(NULL) < end && w->failed < 2)
		ev_run(loop, EVRUN_ONCE);
	ck_assert_int_eq(w->attempts, 2);
	ck_assert_int_eq(w->failed, 2);
	ck_assert_int_eq(got, KF_EAUTH);
}

static void run_conn(const char *server_cert, struct watch *w, bool wait_apiversions)
{
	int port = start_server(cert(server_cert), cert("srv.key"), NULL);
	struct kf_tls *tls = mk_tls(cert("ca.pem"), NULL, NULL, NULL, true);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct kf_resolver *res = kf_resolver_new(loop);
	struct kf_conn_opts o = {
		.host = "127.0.0.1", .port = port, .node_id = 1, .connect_timeout_ms = 3000,
		.request_timeout_ms = 3000, .backoff_min_ms = 1000, .backoff_max_ms = 2000,
		.max_response_bytes = 1 << 20, .transport = kf_tls_transport(tls),
	};
	memset(w, 0, sizeof(*w));
	struct kf_conn *c = kf_conn_new(loop, res, &o, on_state, w);
	kf_conn_connect(c);
	time_t end = time(NULL) + 5;
	while (time(NULL) < end && !w->downs && !(wait_apiversions && w->reached_apiversions))
		ev_run(loop, EVRUN_ONCE);
	if (w->failed)
		assert_failed_for_good(loop, c, w);
	kf_conn_free(c);
	kf_resolver_free(res);
	ev_loop_destroy(loop);
	kf_tls_free(tls);
	stop_server();
}

START_TEST(conn_handshake_passes)
{
	struct watch w;
	run_conn("srv.pem", &w, true);
	ck_assert_msg(w.reached_apiversions, "down: %s", w.msg);
}
END_TEST

START_TEST(conn_handshake_fails)
{
	struct watch w;
	run_conn("oth.pem", &w, false);
	ck_assert(!w.reached_apiversions);
	ck_assert_int_eq(w.failed, 2); /* and never down: no retry of its own */
	ck_assert_int_eq(w.downs, 3);  /* auth_failed, down (kf_conn_retry), auth_failed */
	ck_assert_int_eq(w.err, KF_EAUTH);
	ck_assert_msg(strstr(w.msg, "certificate verify failed: IP address mismatch"), "msg: %s",
		      w.msg);
}
END_TEST

static void teardown(void)
{
	stop_server();
}

Suite *suite_tls(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("s_server");
	tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, trusted_handshake_and_echo);
	tcase_add_test(tc, ip_literal_and_tls12);
	tcase_add_test(tc, untrusted_certificate);
	tcase_add_test(tc, hostname_mismatch);
	tcase_add_test(tc, ip_mismatch);
	tcase_add_test(tc, expired_certificate);
	tcase_add_test(tc, client_certificate_required);
	tcase_add_test(tc, client_certificate_encrypted_key);
	tcase_add_test(tc, bad_configurations);
	tcase_add_test(tc, no_verification_warns);
	tcase_add_test(tc, close_notify_reads_as_eof);
	tcase_add_test(tc, write_after_peer_died);
	tcase_add_test(tc, peer_closes_during_handshake);
	tcase_add_test(tc, conn_handshake_passes);
	tcase_add_test(tc, conn_handshake_fails);
	suite_add_tcase(s, tc);
	return s;
}
