/*
 * tests/unit/records/filter_schema.h - the schema the filter tests and the
 * fuzz target compile against, built by hand:
 *
 *   teams  name
 *   users  name, email, team -> teams, password_hash (hidden)
 *   posts  title, votes (number), published (bool), tags (select, multi),
 *          author -> users, reviewers -> users (multi), meta (json), when (date)
 *
 * Every collection starts with id, created, updated, as schema.h says.
 */
#ifndef FILTER_SCHEMA_H
#define FILTER_SCHEMA_H

#include "records/schema.h"

#define FS_SYSTEM                                                                                  \
    {.name = "id", .type = FLD_TEXT, .system = true},                                              \
        {.name = "created", .type = FLD_AUTODATE, .system = true},                                 \
    {                                                                                              \
        .name = "updated", .type = FLD_AUTODATE, .system = true                                    \
    }

static struct fld fs_team_fields[] = {FS_SYSTEM, {.name = "name", .type = FLD_TEXT}};
static struct fld fs_user_fields[] = {
    FS_SYSTEM,
    {.name = "name", .type = FLD_TEXT},
    {.name = "email", .type = FLD_EMAIL},
    {.name = "team", .type = FLD_RELATION, .target = "teams"},
    {.name = "password_hash", .type = FLD_TEXT, .hidden = true},
};
static struct fld fs_post_fields[] = {
    FS_SYSTEM,
    {.name = "title", .type = FLD_TEXT},
    {.name = "votes", .type = FLD_NUMBER},
    {.name = "published", .type = FLD_BOOL},
    {.name = "tags", .type = FLD_SELECT, .multi = true},
    {.name = "author", .type = FLD_RELATION, .target = "users"},
    {.name = "reviewers", .type = FLD_RELATION, .target = "users", .multi = true},
    {.name = "meta", .type = FLD_JSON},
    {.name = "when", .type = FLD_DATE},
};

#define FS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static struct coll fs_teams = {
    .name = "teams", .fields = fs_team_fields, .nfields = FS_COUNT(fs_team_fields)};
static struct coll fs_users = {
    .name = "users", .system = true, .fields = fs_user_fields, .nfields = FS_COUNT(fs_user_fields)};
static struct coll fs_posts = {
    .name = "posts", .fields = fs_post_fields, .nfields = FS_COUNT(fs_post_fields)};
static struct coll *fs_colls[] = {&fs_posts, &fs_users, &fs_teams};
static struct schema fs_schema = {.colls = fs_colls, .ncolls = 3, .version = 1};

/* Resolves the relations' targets; call once before compiling. */
static inline void fs_init(void)
{
    fs_user_fields[5].to = &fs_teams;
    fs_post_fields[7].to = &fs_users;
    fs_post_fields[8].to = &fs_users;
}

#endif
