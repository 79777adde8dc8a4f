/* Stub for type-checking only (see README.md). */
#ifndef GCB_STUB_STDLIB_H
#define GCB_STUB_STDLIB_H
#include <stddef.h>
void *malloc(size_t size);
void free(void *p);
void abort(void);
int posix_memalign(void **p, size_t alignment, size_t size);
#endif
