/*
 * cmd/galley/main.c - the galley command: serve, migrate, backup, config,
 * version, help.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <galley/galley.h>

static void usage(FILE *out)
{
    fputs("usage: galley <command> [settings]\n"
          "\n"
          "commands:\n"
          "  serve     start the server (default http://127.0.0.1:8090)\n"
          "  migrate up|status\n"
          "            apply the pending migrations / list them all\n"
          "  admin create EMAIL\n"
          "            create a superuser; the password is read from the terminal (not\n"
          "            echoed) or from standard input, never from a flag\n"
          "  schema export\n"
          "            print every collection's definition as JSON\n"
          "  schema import FILE [--delete-missing]\n"
          "            create or change collections to match FILE (records are kept)\n"
          "  backup FILE\n"
          "            copy the SQLite database to FILE; safe while serving\n"
          "  config    print the effective settings as JSON (a valid --config file)\n"
          "  version   print the version\n"
          "  help      print this text; `galley serve --help` lists the settings\n"
          "\n"
          "Every setting is a flag (--workers 4) and an environment variable\n"
          "(GALLEY_WORKERS=4); flags win over the environment.\n",
          out);
}

/* The built-in modules: their migrations, middleware and routes (before the database opens). */
static int add_modules(gly_app *app)
{
    int rc = gly_auth_use(app);
    return rc < 0 ? rc : gly_records_use(app);
}

/*
 * Makes the app of a subcommand from its settings: argv[0] names it in
 * messages, argv[first..argc) are settings. Opens the database unless
 * open_db is false. Exits 2 on a bad setting; returns NULL (with the reason
 * on stderr) when the database does not open.
 */
static gly_app *app_for(const char *name, int argc, char **argv, int first, bool migrate)
{
    char *args[argc - first + 2];
    args[0] = (char *)name;
    int n = 1;
    for (int i = first; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    gly_app *app = gly_app_new(n, args);
    if (!migrate)
        gly_app_config(app)->migrate = false;
    gly_db *db = gly_db_new(app);
    if (!db || add_modules(app) < 0) {
        fprintf(stderr, "%s: cannot set up the built-in modules (see the log)\n", name);
        gly_app_free(app);
        return NULL;
    }
    if (gly_db_open(db) < 0) {
        fprintf(stderr, "%s: %s\n", name, gly_db_errmsg(db));
        gly_app_free(app);
        return NULL;
    }
    return app;
}

static int serve(int argc, char **argv)
{
    gly_app *app = app_for("galley serve", argc, argv, 1, true);
    if (!app)
        return 1;
    int rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}

/* galley migrate up|status [settings] */
static int migrate(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    bool up = strcmp(what, "up") == 0;
    if (!up && strcmp(what, "status") != 0) {
        fprintf(stderr, "galley migrate: expected up or status\n");
        return 2;
    }
    gly_app *app = app_for("galley migrate", argc, argv, 2, false);
    if (!app)
        return 1;
    gly_db *db = gly_app_db(app);
    gly_buf b;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    int rc = up ? gly_db_migrate(db, &b) : gly_db_migrate_status(db, &b);
    if (rc < 0) {
        fprintf(stderr, "galley migrate: %s\n", gly_db_errmsg(db));
    } else {
        if (b.len)
            fwrite(b.p, 1, b.len, stdout);
        if (up)
            printf("%d migration%s applied\n", rc, rc == 1 ? "" : "s");
    }
    gly_buf_dispose(&b);
    gly_app_free(app);
    return rc < 0 ? 1 : 0;
}

/* galley schema export | import FILE [--delete-missing] [settings] */
static int schema(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    bool import = strcmp(what, "import") == 0, delete_missing = false;
    if (!import && strcmp(what, "export") != 0) {
        fprintf(stderr, "galley schema: expected export or import FILE\n");
        return 2;
    }
    int first = 2;
    const char *file = NULL;
    if (import) {
        if (argc < 3 || argv[2][0] == '-') {
            fprintf(stderr, "galley schema import: expected a FILE\n");
            return 2;
        }
        file = argv[2];
        first = 3;
        if (argc > 3 && strcmp(argv[3], "--delete-missing") == 0) {
            delete_missing = true;
            first = 4;
        }
    }
    gly_buf text, out;
    gly_buf_init(&text, NULL, 0, NULL, 64 << 20);
    gly_buf_init(&out, NULL, 0, NULL, 0);
    if (file) {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "galley schema import: %s: %s\n", file, strerror(errno));
            return 1;
        }
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            gly_buf_append(&text, chunk, n);
        if (f != stdin)
            fclose(f);
    }
    gly_app *app =
        app_for(import ? "galley schema import" : "galley schema export", argc, argv, first, true);
    int rc = 1;
    if (app) {
        rc = import ? gly_records_import(app, text.p ? text.p : "", text.len, delete_missing, &out)
                    : gly_records_export(app, &out);
        fwrite(out.p, 1, out.len, rc < 0 ? stderr : stdout);
        rc = rc < 0 ? 1 : 0;
        gly_app_free(app);
    }
    gly_buf_dispose(&text);
    gly_buf_dispose(&out);
    return rc;
}

/*
 * Reads a password: from the terminal without echo (asked twice), else one
 * line of standard input. Returns its length, or -1.
 */
static ssize_t read_password(char *buf, size_t cap)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    char again[256];
    for (int round = 0; round < (tty ? 2 : 1); round++) {
        char *dst = round == 0 ? buf : again;
        size_t dcap = round == 0 ? cap : sizeof again;
        if (tty) {
            fputs(round == 0 ? "Password: " : "Again: ", stderr);
            tcgetattr(STDIN_FILENO, &old);
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        char *got = fgets(dst, (int)dcap, stdin);
        if (tty) {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
            fputc('\n', stderr);
        }
        if (!got)
            return -1;
        dst[strcspn(dst, "\r\n")] = '\0';
    }
    if (tty && strcmp(buf, again) != 0) {
        fprintf(stderr, "galley admin: the passwords differ\n");
        return -1;
    }
    explicit_bzero(again, sizeof again);
    return (ssize_t)strlen(buf);
}

/* galley admin create EMAIL [settings] */
static int admin(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "create") != 0 || argv[2][0] == '-' || !strchr(argv[2], '@') ||
        strpbrk(argv[2], " \t\r\n") || strlen(argv[2]) > 254) {
        fprintf(stderr, "galley admin: expected create EMAIL (an email address)\n");
        return 2;
    }
    gly_app *app = app_for("galley admin", argc, argv, 3, true);
    if (!app)
        return 1;
    char password[256], err[256];
    ssize_t n = read_password(password, sizeof password);
    int rc = 1;
    if (n < 0) {
        fprintf(stderr, "galley admin: no password given\n");
    } else {
        char email[256];
        snprintf(email, sizeof email, "%s", argv[2]);
        for (char *c = email; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        if (gly_auth_create_superuser(app, email, password, (size_t)n, err, sizeof err) < 0) {
            fprintf(stderr, "galley admin: %s\n", err);
        } else {
            printf("superuser %s created\n", email);
            rc = 0;
        }
    }
    explicit_bzero(password, sizeof password);
    gly_app_free(app);
    return rc;
}

/* galley backup FILE [settings] */
static int backup(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "galley backup: expected the FILE to write\n");
        return 2;
    }
    gly_app *app = app_for("galley backup", argc, argv, 2, false);
    if (!app)
        return 1;
    gly_db *db = gly_app_db(app);
    int rc = gly_db_backup(db, argv[1]);
    if (rc < 0)
        fprintf(stderr, "galley backup: %s\n", gly_db_errmsg(db));
    else
        printf("backed up to %s\n", argv[1]);
    gly_app_free(app);
    return rc < 0 ? 1 : 0;
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
    if (strcmp(cmd, "migrate") == 0)
        return migrate(argc - 1, argv + 1);
    if (strcmp(cmd, "admin") == 0)
        return admin(argc - 1, argv + 1);
    if (strcmp(cmd, "schema") == 0)
        return schema(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return backup(argc - 1, argv + 1);
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
