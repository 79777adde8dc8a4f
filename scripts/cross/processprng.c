/*
 * bcryptprimitives.dll for Wine 8, which lacks ProcessPrng: Rust's std
 * draws all its randomness from that one export on Windows, so without it
 * every Rust .exe fails to load (exit 53, nothing printed). Built by
 * .ci/windows with mingw and copied into the test Wine prefixes only;
 * never shipped.
 */
#include <windows.h>

/* advapi32's SystemFunction036, better known as RtlGenRandom. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
