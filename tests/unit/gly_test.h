/*
 * tests/unit/gly_test.h - cmocka with the headers it needs before it.
 *
 * cmocka.h uses size_t, va_list and jmp_buf without including their headers;
 * including it through this file keeps clang-format's include sorting from
 * breaking the build.
 */
#ifndef GLY_TEST_H
#define GLY_TEST_H

// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#endif
