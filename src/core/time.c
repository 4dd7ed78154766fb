/*
 * src/core/time.c - clocks, HTTP and RFC 3339 date formatting, the cached Date.
 *
 * Dates are computed from the day count since the epoch (Howard Hinnant's
 * civil_from_days), not with gmtime/strftime: no locale, no time zone file,
 * no lock, and the same answer on every thread. Times outside years
 * 0000..9999 are clamped, because both formats have exactly four year digits.
 *
 * Each thread keeps its own formatted Date, so a worker's response path reads
 * it without a lock; gly_date_refresh() rewrites it only when the second changed.
 */
#include <time.h>

#include <galley/time.h>

#define SECS_PER_DAY 86400
#define MIN_UNIX     INT64_C(-62167219200) /* 0000-01-01T00:00:00Z */
#define MAX_UNIX     INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

struct civil {
    unsigned year, mon, mday, wday, hour, min, sec;
};

uint64_t gly_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t gly_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Division rounding toward minus infinity, so times before 1970 land on the right day. */
static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

/* Splits unix seconds t (within MIN_UNIX..MAX_UNIX) into a UTC calendar date and time. */
static void civil_from_unix(int64_t t, struct civil *c)
{
    int64_t days = floor_div(t, SECS_PER_DAY);
    int64_t secs = t - days * SECS_PER_DAY;
    /* Shift to an era starting 0000-03-01, so the leap day is the last day of a year. */
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* March is 0 */

    c->mday = doy - (153 * mp + 2) / 5 + 1;
    c->mon = mp < 10 ? mp + 3 : mp - 9;
    c->year = (unsigned)(era * 400 + yoe + (c->mon <= 2));
    /* 1970-01-01 was a Thursday (Sunday is 0). */
    c->wday = (unsigned)(((days + 4) % 7 + 7) % 7);
    c->hour = (unsigned)(secs / 3600);
    c->min = (unsigned)(secs / 60 % 60);
    c->sec = (unsigned)(secs % 60);
}

static inline int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static inline void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

static inline void put4(char *p, unsigned v)
{
    put2(p, v / 100);
    put2(p + 2, v % 100);
}

void gly_http_date_format(int64_t t, char out[30])
{
    static const char wdays[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    struct civil c;

    civil_from_unix(clamp(t, MIN_UNIX, MAX_UNIX), &c);
    memcpy(out, "Sun, 00 Jan 0000 00:00:00 GMT", 30);
    memcpy(out, wdays + 3 * c.wday, 3);
    put2(out + 5, c.mday);
    memcpy(out + 8, months + 3 * (c.mon - 1), 3);
    put4(out + 12, c.year);
    put2(out + 17, c.hour);
    put2(out + 20, c.min);
    put2(out + 23, c.sec);
}

void gly_iso_time_format(int64_t ms, char out[25])
{
    int64_t t = clamp(ms, MIN_UNIX * 1000, MAX_UNIX * 1000 + 999);
    int64_t secs = floor_div(t, 1000);
    unsigned frac = (unsigned)(t - secs * 1000);
    struct civil c;

    civil_from_unix(secs, &c);
    memcpy(out, "0000-00-00T00:00:00.000Z", 25);
    put4(out, c.year);
    put2(out + 5, c.mon);
    put2(out + 8, c.mday);
    put2(out + 11, c.hour);
    put2(out + 14, c.min);
    put2(out + 17, c.sec);
    out[20] = (char)('0' + frac / 100);
    put2(out + 21, frac % 100);
}

static _Thread_local char date_cache[30];
static _Thread_local int64_t date_sec;

void gly_date_refresh(void)
{
    int64_t sec = floor_div(gly_wall_ms(), 1000);

    if (date_cache[0] && sec == date_sec)
        return;
    gly_http_date_format(sec, date_cache);
    date_sec = sec;
}

const char *gly_http_date(void)
{
    if (!date_cache[0])
        gly_date_refresh();
    return date_cache;
}
