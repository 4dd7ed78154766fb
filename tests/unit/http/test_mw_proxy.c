/*
 * tests/unit/http/test_mw_proxy.c - IP and CIDR parsing and matching, and the X-Forwarded-For
 * walk behind trusted proxies.
 */
#include <stdlib.h>
#include <string.h>

#include "gly_test.h"
#include "http/mw.h"

static struct gly__ip ip(const char *s)
{
    struct gly__ip a;
    if (!gly__ip_parse(s, strlen(s), &a)) {
        fail_msg("\"%s\" does not parse", s);
    }
    return a;
}

static const char *text(const struct gly__ip *a)
{
    static char buf[64];
    return gly__ip_format(a, buf, sizeof buf);
}

/* Parses list (must be valid) and tells whether addr is in it. */
static bool in(const char *list, const char *addr)
{
    struct gly__cidr *c = NULL;
    size_t n = 0;
    char why[160];
    struct gly__ip a = ip(addr);

    if (gly__cidr_list_parse(list, &c, &n, why, sizeof why) != 0) {
        fail_msg("list \"%s\": %s", list, why);
    }
    bool r = gly__cidr_match(c, n, &a);
    free(c);
    return r;
}

static void ip_parse_takes_v4_v6_and_folds_mapped_v4(void **state)
{
    struct gly__ip a;

    (void)state;
    a = ip("203.0.113.7");
    assert_int_equal(a.fam, 4);
    assert_string_equal(text(&a), "203.0.113.7");
    a = ip("2001:DB8::1");
    assert_int_equal(a.fam, 6);
    assert_string_equal(text(&a), "2001:db8::1");
    a = ip("::ffff:192.0.2.1");
    assert_int_equal(a.fam, 4);
    assert_string_equal(text(&a), "192.0.2.1");
    assert_false(gly__ip_parse("", 0, &a));
    assert_false(gly__ip_parse("1.2.3", 5, &a));
    assert_false(gly__ip_parse("1.2.3.4:80", 10, &a));
    assert_false(gly__ip_parse("[::1]", 5, &a));
    assert_false(gly__ip_parse("unknown", 7, &a));
    assert_false(gly__ip_parse(" 1.2.3.4", 8, &a));
}

static void peer_parse_drops_the_port(void **state)
{
    struct gly__ip a;

    (void)state;
    assert_true(gly__peer_parse("127.0.0.1:5555", &a));
    assert_string_equal(text(&a), "127.0.0.1");
    assert_true(gly__peer_parse("[::1]:8080", &a));
    assert_string_equal(text(&a), "::1");
    assert_false(gly__peer_parse("?:0", &a));
    assert_false(gly__peer_parse("[::1", &a));
}

static void cidr_matches_v4_prefixes(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.255.1.2"));
    assert_false(in("10.0.0.0/8", "11.0.0.1"));
    assert_true(in("192.168.1.7/32", "192.168.1.7"));
    assert_false(in("192.168.1.7/32", "192.168.1.8"));
    assert_true(in("192.168.1.7", "192.168.1.7"));
    assert_true(in("172.16.0.0/12", "172.31.255.255"));
    assert_false(in("172.16.0.0/12", "172.32.0.0"));
    assert_true(in("0.0.0.0/0", "8.8.8.8"));
    assert_false(in("0.0.0.0/0", "::1")); /* families never mix */
}

static void cidr_matches_v6_prefixes(void **state)
{
    (void)state;
    assert_true(in("::1", "::1"));
    assert_false(in("::1", "::2"));
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/32", "2001:db9::1"));
    assert_true(in("fd00::/7", "fdff::1"));
    assert_true(in("fc00::/7", "fd00::1"));
    assert_false(in("fc00::/7", "fe00::1"));
    assert_true(in("::/0", "2001:db8::1"));
    assert_false(in("::/0", "1.2.3.4"));
    assert_true(in("10.0.0.1, ::1 ,2001:db8::/64", "2001:db8::abcd"));
    /* a range of IPv4-mapped addresses is that IPv4 range */
    assert_true(in("::ffff:10.0.0.0/104", "10.1.2.3"));
    assert_false(in("::ffff:10.0.0.0/104", "11.1.2.3"));
    assert_true(in("::ffff:10.0.0.1", "10.0.0.1"));
}

static void cidr_list_refuses_bad_items_and_says_which(void **state)
{
    static const char *const bad[] = {
        "10.0.0.0/33",  "::/129",          "1.2.3.4/", "1.2.3.4/a",
        "1.2.3.4/1234", "1.2.3.4,",        ",1.2.3.4", "1.2.3.4,,1.2.3.5",
        "localhost",    "1.2.3.4 5.6.7.8", "[::1]",    "::ffff:10.0.0.0/95"};
    struct gly__cidr *c = (struct gly__cidr *)1;
    size_t n = 99;
    char why[160];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (gly__cidr_list_parse(bad[i], &c, &n, why, sizeof why) != GLY_EINVAL) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        assert_null(c);
        assert_int_equal(n, 0);
    }
    gly__cidr_list_parse("1.2.3.4, nope", NULL, NULL, why, sizeof why);
    assert_string_equal(why, "\"nope\" is not an IP address or CIDR range");
    assert_int_equal(gly__cidr_list_parse("", &c, &n, why, sizeof why), 0);
    assert_int_equal(n, 0);
    free(c);
}

/* The client for peer and XFF fields given trusted (a list string). */
static const char *client(const char *trusted, const char *peer, const char *f1, const char *f2)
{
    struct gly__cidr *c = NULL;
    size_t n = 0, nx = 0;
    char why[160];
    gly_str xff[2];
    struct gly__ip p = ip(peer), out;

    assert_int_equal(gly__cidr_list_parse(trusted, &c, &n, why, sizeof why), 0);
    if (f1) {
        xff[nx++] = gly_str_c(f1);
    }
    if (f2) {
        xff[nx++] = gly_str_c(f2);
    }
    gly__client_addr(c, n, &p, xff, nx, &out);
    free(c);
    return text(&out);
}

static void xff_is_ignored_unless_the_peer_is_trusted(void **state)
{
    (void)state;
    assert_string_equal(client("", "127.0.0.1", "203.0.113.7", NULL), "127.0.0.1");
    assert_string_equal(client("10.0.0.0/8", "127.0.0.1", "203.0.113.7", NULL), "127.0.0.1");
    assert_string_equal(client("127.0.0.1", "127.0.0.1", "203.0.113.7", NULL), "203.0.113.7");
}

static void xff_walk_skips_trusted_hops_from_the_right(void **state)
{
    (void)state;
    /* the client forged the leftmost entry; the first untrusted from the right is the truth */
    assert_string_equal(
        client("127.0.0.1, 10.0.0.0/8", "127.0.0.1", "6.6.6.6, 198.51.100.4, 10.1.1.1", NULL),
        "198.51.100.4");
    assert_string_equal(client("127.0.0.1", "127.0.0.1", " 203.0.113.7 ,\t198.51.100.4 ", NULL),
                        "198.51.100.4");
    /* two fields are one list, in order */
    assert_string_equal(client("127.0.0.1, 10.0.0.0/8", "127.0.0.1", "198.51.100.4", "10.0.0.5"),
                        "198.51.100.4");
    assert_string_equal(client("::1, fd00::/8", "::1", "2001:db8::7, fd00::1", NULL),
                        "2001:db8::7");
    /* every hop trusted: the leftmost */
    assert_string_equal(client("10.0.0.0/8, 127.0.0.1", "127.0.0.1", "10.0.0.1, 10.0.0.2", NULL),
                        "10.0.0.1");
    /* no field: the peer */
    assert_string_equal(client("127.0.0.1", "127.0.0.1", NULL, NULL), "127.0.0.1");
}

static void xff_garbage_falls_back_to_the_peer(void **state)
{
    (void)state;
    assert_string_equal(client("127.0.0.1", "127.0.0.1", "unknown", NULL), "127.0.0.1");
    assert_string_equal(client("127.0.0.1", "127.0.0.1", "203.0.113.7, ", NULL), "127.0.0.1");
    assert_string_equal(client("127.0.0.1", "127.0.0.1", "203.0.113.7:80", NULL), "127.0.0.1");
    assert_string_equal(client("127.0.0.1", "127.0.0.1", "", NULL), "127.0.0.1");
    assert_string_equal(client("127.0.0.1, 10.0.0.0/8", "127.0.0.1", "x, 10.0.0.9", NULL),
                        "127.0.0.1");
    /* garbage left of the first untrusted address does not matter */
    assert_string_equal(client("127.0.0.1", "127.0.0.1", "<script>, 203.0.113.7", NULL),
                        "203.0.113.7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ip_parse_takes_v4_v6_and_folds_mapped_v4),
        cmocka_unit_test(peer_parse_drops_the_port),
        cmocka_unit_test(cidr_matches_v4_prefixes),
        cmocka_unit_test(cidr_matches_v6_prefixes),
        cmocka_unit_test(cidr_list_refuses_bad_items_and_says_which),
        cmocka_unit_test(xff_is_ignored_unless_the_peer_is_trusted),
        cmocka_unit_test(xff_walk_skips_trusted_hops_from_the_right),
        cmocka_unit_test(xff_garbage_falls_back_to_the_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
