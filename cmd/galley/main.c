/*
 * cmd/galley/main.c - the galley command: serve, version, help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/galley.h>

static void usage(FILE *out)
{
    fputs("usage: galley <command> [settings]\n"
          "\n"
          "commands:\n"
          "  serve     start the server (default http://127.0.0.1:8090)\n"
          "  config    print the effective settings as JSON (a valid --config file)\n"
          "  version   print the version\n"
          "  help      print this text; `galley serve --help` lists the settings\n"
          "\n"
          "Every setting is a flag (--workers 4) and an environment variable\n"
          "(GALLEY_WORKERS=4); flags win over the environment.\n",
          out);
}

static int serve(int argc, char **argv)
{
    /* gly_app_new reads argv[1..]; argv[0] names the program in its messages */
    char *args[argc + 1];
    args[0] = "galley serve";
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    args[argc] = NULL;
    gly_app *app = gly_app_new(argc, args);
    int rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}

/* galley config [settings]: what serve would run with, after file, env and flags. */
static int config(int argc, char **argv)
{
    gly_config cfg;
    char err[512];
    gly_buf b;
    gly_config_init(&cfg);
    if (gly_config_load(&cfg, argc - 1, argv + 1, err, sizeof err) < 0) {
        fprintf(stderr, "galley config: %s\n", err);
        return 2;
    }
    gly_buf_init(&b, NULL, 0, NULL, 0);
    int rc = gly_config_dump(&cfg, &b);
    gly_buf_putc(&b, '\n');
    if (rc == 0 && !gly_buf_err(&b))
        fwrite(b.p, 1, b.len, stdout);
    gly_buf_dispose(&b);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return serve(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return config(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("galley %s\n", gly_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "galley: unknown command \"%s\" (try galley --help)\n", cmd);
    return 2;
}
