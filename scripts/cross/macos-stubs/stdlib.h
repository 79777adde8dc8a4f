/* Stub for the macOS type-check on Linux (see TargetConditionals.h):
   x86_64's immintrin.h pulls mm_malloc.h, which needs these. */
#pragma once
#include <stddef.h>
void *malloc(size_t size);
void free(void *p);
void abort(void);
int posix_memalign(void **p, size_t align, size_t size);
