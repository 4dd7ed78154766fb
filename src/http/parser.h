/*
 * src/http/parser.h - strict HTTP/1.1 request parser (RFC 9110, RFC 9112).
 *
 * Zero-copy: every slice points into the caller's buffer. Stateless for the
 * head: the caller passes the whole buffer again when more bytes arrive,
 * with the length it had last time, so each byte is scanned for the end of
 * the head once. The chunked decoder keeps a small state across calls.
 *
 * Strictness (each is a 400 unless noted): lines end in CRLF only (a bare CR
 * or a bare LF is an error); one SP between the parts of the request line;
 * method a token (known methods listed in gly_method, an unknown token is
 * 501); request-target in origin-form, absolute-form (http/https),
 * authority-form (CONNECT only) or "*" (OPTIONS only), no control characters,
 * SP or '#'; version "HTTP/1.0" or "HTTP/1.1" (other well-formed HTTP/x.y:
 * 505); field names are tokens with no whitespace before the colon; no
 * obs-fold; field values without control characters (HTAB allowed) and with
 * surrounding SP/HTAB trimmed; an HTTP/1.1 request has exactly one Host and
 * HTTP/1.0 at most one; Content-Length is 1*DIGIT without overflow, repeated
 * only with the identical value (a list "5, 5" counts as repeats); both
 * Content-Length and Transfer-Encoding is an error; Transfer-Encoding must end
 * in "chunked" and may list only "chunked" once (other codings: 501 as not
 * implemented, chunked twice or not last: 400); HTTP/1.0 with
 * Transfer-Encoding is 400.
 */
#ifndef GALLEY_HTTP_PARSER_H
#define GALLEY_HTTP_PARSER_H

#include <galley/common.h>
#include <galley/http.h>

#define GLY_HTTP_INCOMPLETE (-2)
#define GLY_HTTP_ERROR      (-1)

/* Capacity of the header array; the configured field limit must not exceed it. */
#define GLY_HTTP_MAX_HEADERS 128

struct gly_http_limits {
    size_t max_request_line; /* bytes, CRLF excluded; over it: 414 */
    size_t max_head;         /* bytes of the whole head incl. the empty line; over it: 431 */
    unsigned max_headers;    /* fields; over it: 431 */
};

struct gly_http_header {
    gly_str name;  /* as sent (case preserved) */
    gly_str value; /* leading/trailing SP and HTAB removed */
};

/* Flags of a parsed head. */
enum {
    GLY_HTTP_CHUNKED = 1u << 0,         /* Transfer-Encoding: chunked */
    GLY_HTTP_HAS_LENGTH = 1u << 1,      /* a Content-Length was given */
    GLY_HTTP_KEEP_ALIVE = 1u << 2,      /* connection may be reused after this message */
    GLY_HTTP_EXPECT_CONTINUE = 1u << 3, /* Expect: 100-continue (case-insensitive) */
    GLY_HTTP_UPGRADE = 1u << 4,         /* Connection lists "upgrade" and an Upgrade field exists */
};

struct gly_http_head {
    gly_str method;          /* the method token */
    int method_id;           /* a gly_method; GLY_METHOD_UNKNOWN for other tokens */
    gly_str target;          /* request-target as sent */
    gly_str path;            /* origin path ("/a/b"), from absolute-form too; "*" for asterisk-form;
                                the authority for CONNECT */
    gly_str query;           /* after '?' without it; p == NULL when there is no '?' */
    int minor_version;       /* 0 or 1 */
    gly_str host;            /* the Host field value (p == NULL when absent) */
    uint64_t content_length; /* valid with GLY_HTTP_HAS_LENGTH */
    unsigned flags;
    unsigned nheaders;
    struct gly_http_header headers[GLY_HTTP_MAX_HEADERS];
};

/*
 * Parses the request head at buf[0..len).
 *
 * last_len is the len of the previous call on the same buffer (0 on the
 * first): bytes before it were already found not to end the head.
 *
 * Returns the length of the head (request line, fields and the empty line;
 * the body starts there) with *h filled in; GLY_HTTP_INCOMPLETE when more
 * bytes are needed; or GLY_HTTP_ERROR with *status set to the answer (400,
 * 414, 431, 501, 505) and *why to a short static reason. An error is reported
 * as soon as the bytes seen prove it (a bad method, a request line already
 * past the limit), without waiting for the rest of the head.
 */
int gly_http_parse_head(const char *buf, size_t len, size_t last_len,
                        const struct gly_http_limits *lim, struct gly_http_head *h, int *status,
                        const char **why);

/*
 * Decoder for a chunked body (RFC 9112 section 7.1). Zero it before the first
 * call (or call gly_http_chunked_init()).
 */
struct gly_http_chunked {
    int state;
    uint64_t left;        /* bytes left in the current chunk's data */
    uint64_t total;       /* decoded bytes so far */
    size_t trailer_bytes; /* bytes of trailer section so far */
    unsigned trailers;    /* trailer fields so far */
};

static inline void gly_http_chunked_init(struct gly_http_chunked *d)
{
    memset(d, 0, sizeof *d);
}

/*
 * Decodes chunked data. src[0..*src_len) are raw bytes following what earlier
 * calls consumed; the decoded body bytes are written to dst, which may be
 * equal to or below src (the copy is a memmove), so decoding in place works.
 *
 * On return *src_len holds the bytes consumed and *dst_len the body bytes
 * written. A chunk-size line, chunk-data CRLF or trailer line that is not yet
 * complete is left unconsumed; call again with it at the start of src once
 * more bytes have arrived.
 *
 * Returns 1 when the last chunk and trailer section are complete (consumed
 * ends right after the final CRLF; what follows is the next request), 0 when
 * more input is needed, or GLY_HTTP_ERROR with *status (400, or 413 when the
 * decoded total would pass max_body) and *why set. Chunk sizes are hex
 * without sign, at most 16 digits, no overflow; chunk extensions are checked
 * for syntax and ignored; a chunk-size line longer than 4 KiB is an error;
 * trailer fields are checked like header fields and count against
 * lim->max_head and lim->max_headers (431).
 */
int gly_http_chunked_decode(struct gly_http_chunked *d, char *dst, size_t *dst_len, const char *src,
                            size_t *src_len, uint64_t max_body, const struct gly_http_limits *lim,
                            int *status, const char **why);

/* Returns the method for a token, or GLY_METHOD_UNKNOWN. */
int gly_http_method_lookup(const char *p, size_t n);

#endif
