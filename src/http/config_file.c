/*
 * src/http/config_file.c - settings from a JSON file, and the whole load order.
 *
 * A config file is one JSON object of settings, named as the flags are:
 *
 *   {"http": "0.0.0.0:8080", "workers": 4, "max-body": "1M", "access-log": false}
 *
 * Numbers are taken as their text and booleans as on/off, then each value
 * goes through gly_config_set(), so a file accepts exactly what a flag does.
 * `galley config` writes this format, so its output can be saved as a file.
 */
#include <stdio.h>
#include <stdlib.h>

#include <galley/json_read.h>

#include "http/config.h"

#define CONFIG_FILE_MAX (1 << 20)

/* Reads the whole file into a malloc'd buffer; returns its length or -errno. */
static long read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    long n = buf ? (long)fread(buf, 1, CONFIG_FILE_MAX + 1, f) : 0;
    int failed = !buf ? GLY_ENOMEM : ferror(f) ? GLY_EIO : n > CONFIG_FILE_MAX ? GLY_E2BIG : 0;
    fclose(f);
    if (failed) {
        free(buf);
        return failed;
    }
    *out = buf;
    return n;
}

int gly_config_from_file(gly_config *cfg, const char *path, char *err, size_t errlen)
{
    char why[256];
    char *text = NULL;
    gly_arena a;
    gly_jv *doc = NULL;
    gly_json_error jerr;
    gly_json_limits lim = gly_json_limits_default();
    gly_config tmp = *cfg;
    int rc;

    gly_arena_init(&a, 0);
    long n = read_file(path, &text);
    if (n < 0) {
        rc = (int)n;
        snprintf(err, errlen, "cannot read config file %s: %s", path, gly_strerror(rc));
        goto done;
    }
    rc = gly_json_parse(&a, text, (size_t)n, &lim, &doc, &jerr);
    if (rc < 0) {
        snprintf(err, errlen, "%s:%zu:%zu: %s", path, jerr.line, jerr.column, jerr.msg);
        goto done;
    }
    if (gly_jv_type(doc) != GLY_JSON_OBJECT) {
        rc = GLY_EINVAL;
        snprintf(err, errlen, "%s: expected one JSON object of settings", path);
        goto done;
    }
    for (size_t i = 0; i < gly_jv_len(doc); i++) {
        gly_str key = gly_jv_key_at(doc, i);
        const gly_jv *v = gly_jv_at(doc, i);
        const char *value;
        if (strlen(key.p) != key.n ||
            (gly_jv_type(v) == GLY_JSON_STRING && strlen(gly_jv_str(v).p) != gly_jv_str(v).n)) {
            rc = GLY_EINVAL;
            snprintf(err, errlen, "%s:%zu: a setting or value contains \\u0000", path,
                     gly_jv_line(v));
            goto done;
        }
        switch (gly_jv_type(v)) {
        case GLY_JSON_STRING:
            value = gly_jv_str(v).p;
            break;
        case GLY_JSON_NUMBER:
            value = gly_jv_num_raw(v).p;
            break;
        case GLY_JSON_BOOL:
            value = gly_jv_bool(v) ? "on" : "off";
            break;
        default:
            rc = GLY_EINVAL;
            snprintf(err, errlen, "%s:%zu: \"%.*s\" must be a string, number or boolean", path,
                     gly_jv_line(v), (int)key.n, key.p);
            goto done;
        }
        if (gly_str_eq(key, GLY_STR("config")) || gly_str_eq(key, GLY_STR("port"))) {
            rc = GLY_EINVAL;
            snprintf(err, errlen, "%s:%zu: \"%.*s\" cannot be set in a config file (use %s)", path,
                     gly_jv_line(v), (int)key.n, key.p,
                     key.p[0] == 'c' ? "--config or GALLEY_CONFIG" : "\"http\"");
            goto done;
        }
        rc = gly_config_set(&tmp, key.p, value, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, gly_jv_line(v), why);
            goto done;
        }
    }
    *cfg = tmp;
    rc = 0;
done:
    gly_arena_dispose(&a);
    free(text);
    return rc;
}

int gly_config_load(gly_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    gly_config probe = *cfg;
    int rest = argc, rc;

    /* which file: the environment and the flags may name it, and they win over it */
    if ((rc = gly_config_from_env(&probe, err, errlen)) < 0 ||
        (rc = gly_config_from_args(&probe, argc, argv, &rest, err, errlen)) < 0)
        return rc;
    if (rest < argc) {
        snprintf(err, errlen, "unexpected argument \"%s\"", argv[rest]);
        return GLY_EINVAL;
    }
    gly_config loaded = *cfg;
    if (probe.config[0] && (rc = gly_config_from_file(&loaded, probe.config, err, errlen)) < 0)
        return rc;
    if ((rc = gly_config_from_env(&loaded, err, errlen)) < 0 ||
        (rc = gly_config_from_args(&loaded, argc, argv, &rest, err, errlen)) < 0 ||
        (rc = gly__config_check(&loaded, err, errlen)) < 0)
        return rc;
    *cfg = loaded;
    return 0;
}
