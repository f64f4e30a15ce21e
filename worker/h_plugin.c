/*
 * h_plugin: the `plugin` handler, user C code in a shared object
 * (kfork/handler.h is its whole contract).  Runs in the worker process
 * only.  The record's headers are decoded into an array of pointers into
 * the ring for each call (no copy of their bytes).
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "err.h"
#include "handlers.h"
#include "log.h"

typedef int (*init_fn)(const struct kfork_handler_info *, void **);
typedef int (*process_fn)(void *, const struct kfork_record *);
typedef void (*fini_fn)(void *);

struct plugin_state {
	void *dl;
	process_fn process;
	fini_fn fini;
	void *user;                 /* the plugin's own state */
	struct kfork_header *hdrs;  /* grows to the largest header count */
	size_t hcap;
};

/* dlsym for a function: POSIX guarantees the object-to-function pointer
 * conversion works for dlsym; memcpy keeps ISO C compilers quiet. */
static void *fn_sym(void *dl, const char *name, size_t fnsize, void *out)
{
	void *p = dlsym(dl, name);
	memcpy(out, &p, fnsize);
	return p;
}

static int plugin_init(struct kf_worker *w, void **state)
{
	const struct kf_handler_conf *hc = &w->conf->handler;
	struct plugin_state *ps = calloc(1, sizeof(*ps));
	init_fn init = NULL;

	if (!ps) {
		kf_err(w->comp, "plugin: out of memory");
		return KF_ENOMEM;
	}
	if (!hc->path || !*hc->path) {
		kf_err(w->comp, "plugin: no path");
		goto out_free;
	}
	ps->dl = dlopen(hc->path, RTLD_NOW | RTLD_LOCAL);
	if (!ps->dl) {
		kf_err(w->comp, "plugin: %s", dlerror());
		goto out_free;
	}
	const unsigned int *abi = dlsym(ps->dl, "kfork_handler_abi");
	if (abi && *abi > KFORK_HANDLER_ABI_VERSION) {
		kf_err(w->comp, "plugin %s: built for handler ABI %u, this worker has %u",
		       hc->path, *abi, KFORK_HANDLER_ABI_VERSION);
		goto out_close;
	}
	if (!fn_sym(ps->dl, "kfork_handler_process", sizeof(ps->process), &ps->process)) {
		kf_err(w->comp, "plugin %s: no kfork_handler_process", hc->path);
		goto out_close;
	}
	fn_sym(ps->dl, "kfork_handler_init", sizeof(init), &init);
	fn_sym(ps->dl, "kfork_handler_fini", sizeof(ps->fini), &ps->fini);
	if (init) {
		char errbuf[512] = "";
		struct kfork_handler_info info = {
			.abi_version = KFORK_HANDLER_ABI_VERSION,
			.worker_id = w->conf->id,
			.arg = hc->arg ? hc->arg : "",
			.error = errbuf,
			.error_size = sizeof(errbuf),
		};
		int rc = init(&info, &ps->user);
		if (rc != 0) {
			errbuf[sizeof(errbuf) - 1] = '\0';
			kf_err(w->comp, "plugin %s: kfork_handler_init returned %d: %s", hc->path,
			       rc, errbuf[0] ? errbuf : "(no message)");
			goto out_close;
		}
	}
	*state = ps;
	return KF_OK;

out_close:
	dlclose(ps->dl);
out_free:
	free(ps);
	return KF_ERR;
}

static int decode_headers(struct plugin_state *ps, const struct kf_ring_rec *r, size_t *count)
{
	size_t n = r->header_count > 0 ? (size_t)r->header_count : 0;
	const uint8_t *p = r->headers;
	size_t left = r->headers_len;

	if (n > ps->hcap) {
		struct kfork_header *nh = realloc(ps->hdrs, n * sizeof(*nh));
		if (!nh)
			return KF_ENOMEM;
		ps->hdrs = nh;
		ps->hcap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *k, *v;
		int32_t klen, vlen;
		if (kf_record_header_next(&p, &left, &k, &klen, &v, &vlen) != 1)
			return KF_EPROTO;
		ps->hdrs[i] = (struct kfork_header){
			.key = (const char *)k, .key_len = klen,
			.value = vlen < 0 ? NULL : v, .value_len = vlen,
		};
	}
	*count = n;
	return KF_OK;
}

static int plugin_process(struct kf_worker *w, void *state, struct kf_delivery *d)
{
	struct plugin_state *ps = state;
	const struct kf_ring_rec *r = d->rec;
	size_t nh = 0;
	int rc = decode_headers(ps, r, &nh);

	if (rc != KF_OK) {
		snprintf(d->reason, KF_RING_REASON_MAX, "record headers: %s", kf_strerror(rc));
		return rc == KF_ENOMEM ? KFORK_RETRY : KFORK_FAIL;
	}
	struct kfork_record rec = {
		.topic = d->topic,
		.partition = r->partition,
		.offset = r->offset,
		.timestamp_ms = r->timestamp,
		.key = r->key_len < 0 ? NULL : r->key,
		.key_len = r->key_len,
		.value = r->value_len < 0 ? NULL : r->value,
		.value_len = r->value_len,
		.headers = ps->hdrs,
		.header_count = nh,
		.attempt = d->attempt,
		.worker_id = w->conf->id,
		.reason = d->reason,
		.reason_size = KF_RING_REASON_MAX,
	};
	rc = ps->process(ps->user, &rec);
	d->reason[KF_RING_REASON_MAX - 1] = '\0';
	return rc;
}

static void plugin_fini(struct kf_worker *w, void *state)
{
	struct plugin_state *ps = state;

	if (!ps)
		return;
	if (ps->fini)
		ps->fini(ps->user);
	dlclose(ps->dl);
	free(ps->hdrs);
	free(ps);
}

const struct kf_handler kf_handler_plugin = {
	.init = plugin_init,
	.process = plugin_process,
	.fini = plugin_fini,
};
