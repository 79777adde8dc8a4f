/* Stub for type-checking only (see README.md). */
#ifndef GCB_STUB_ASSERT_H
#define GCB_STUB_ASSERT_H
#define assert(x) ((void)0)
#endif
