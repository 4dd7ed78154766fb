/*
 * src/core/hash.h - the one non-cryptographic hash of libgalley: 64-bit
 * FNV-1a, for hash tables, cache slots, statement keys, ETags and change
 * checksums. Never for anything an attacker must not forge or predict.
 */
#ifndef GALLEY_CORE_HASH_H
#define GALLEY_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t gly__fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

#endif
