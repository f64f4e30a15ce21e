#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "json.h"

void kf_json_init(struct kf_json *j)
{
	memset(j, 0, sizeof(*j));
	kf_wr_init(&j->wr);
	j->first[0] = true;
}

void kf_json_free(struct kf_json *j)
{
	kf_wr_free(&j->wr);
}

static void put(struct kf_json *j, const char *s, size_t n)
{
	kf_wr_raw(&j->wr, s, n);
}

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t min, cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if ((c & 0xf0) == 0xe0)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if ((c & 0xf8) == 0xf0)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void put_string(struct kf_json *j, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v);
	put(j, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			put(j, esc, 2);
			i++;
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(j, esc, 6);
			i++;
		} else {
			size_t len = utf8_len(s + i, n - i);
			if (len) {
				put(j, (const char *)s + i, len);
				i += len;
			} else {
				put(j, "\xef\xbf\xbd", 3);
				i++;
			}
		}
	}
	put(j, "\"", 1);
}

/* The comma and the key before a value. */
static void member(struct kf_json *j, const char *key)
{
	if (!j->first[j->depth])
		put(j, ", ", 2);
	j->first[j->depth] = false;
	if (key) {
		put_string(j, key);
		put(j, ": ", 2);
	}
}

static void open_(struct kf_json *j, const char *key, const char *c)
{
	member(j, key);
	put(j, c, 1);
	if (j->depth + 1 >= KF_JSON_MAX_DEPTH) {
		j->wr.err = KF_EPROTO;
		return;
	}
	j->first[++j->depth] = true;
}

static void close_(struct kf_json *j, const char *c)
{
	if (j->depth > 0)
		j->depth--;
	put(j, c, 1);
}

void kf_json_obj(struct kf_json *j, const char *key) { open_(j, key, "{"); }
void kf_json_end_obj(struct kf_json *j) { close_(j, "}"); }
void kf_json_arr(struct kf_json *j, const char *key) { open_(j, key, "["); }
void kf_json_end_arr(struct kf_json *j) { close_(j, "]"); }

void kf_json_str(struct kf_json *j, const char *key, const char *v)
{
	member(j, key);
	if (v)
		put_string(j, v);
	else
		put(j, "null", 4);
}

void kf_json_int(struct kf_json *j, const char *key, int64_t v)
{
	char b[24];
	member(j, key);
	put(j, b, (size_t)snprintf(b, sizeof(b), "%" PRId64, v));
}

void kf_json_uint(struct kf_json *j, const char *key, uint64_t v)
{
	char b[24];
	member(j, key);
	put(j, b, (size_t)snprintf(b, sizeof(b), "%" PRIu64, v));
}

void kf_json_bool(struct kf_json *j, const char *key, bool v)
{
	member(j, key);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void kf_json_null(struct kf_json *j, const char *key)
{
	member(j, key);
	put(j, "null", 4);
}
