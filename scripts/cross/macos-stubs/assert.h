/* Stub for the macOS type-check on Linux (see TargetConditionals.h). */
#pragma once
#define assert(x) ((void)0)
