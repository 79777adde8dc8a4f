/*
 * The test browser for the Windows helper under Wine: a Windows program
 * that hands its arguments, unchanged, to the Linux fake browser.
 *
 * Under Wine a Windows program cannot start a Linux program the usual way
 * (its pipes cannot be connected; Rust's Command fails with "Invalid
 * handle"), but Wine's start.exe can: `start /unix PROGRAM ARGS...` runs a
 * Unix program with no standard handles, which is all a browser needs. So
 * the end-to-end tests set `bitbucketBrowser` to this .exe, and it runs
 *     start.exe /unix UNIX_COMMAND ARGS...
 * with each argument re-quoted by the rules its parser (the C runtime's,
 * as in CommandLineToArgvW) undoes. UNIX_COMMAND is a wide string literal
 * given at build time (.ci/windows: the python3 and fake-browser.py
 * paths, each in double quotes).
 *
 * Built by .ci/windows with mingw (-municode); used only by the tests.
 */
#include <windows.h>
#include <stdlib.h>
#include <wchar.h>

#ifndef UNIX_COMMAND
#error "build with -DUNIX_COMMAND='L\"\\\"/usr/bin/python3\\\" \\\"/path/to/browser.py\\\"\"'"
#endif

/* Appends `arg` to `out` as one argument, quoted when it needs to be. */
static void append_arg(wchar_t *out, const wchar_t *arg)
{
    size_t n = wcslen(out);
    int quote = arg[0] == L'\0' || wcspbrk(arg, L" \t\"") != NULL;
    out[n++] = L' ';
    if (!quote) {
        wcscpy(out + n, arg);
        return;
    }
    out[n++] = L'"';
    for (const wchar_t *p = arg;; p++) {
        size_t slashes = 0;
        while (*p == L'\\') {
            slashes++;
            p++;
        }
        if (*p == L'\0') {
            /* Backslashes before the closing quote are doubled. */
            for (size_t i = 0; i < 2 * slashes; i++)
                out[n++] = L'\\';
            break;
        }
        if (*p == L'"') {
            for (size_t i = 0; i < 2 * slashes + 1; i++)
                out[n++] = L'\\';
        } else {
            for (size_t i = 0; i < slashes; i++)
                out[n++] = L'\\';
        }
        out[n++] = *p;
    }
    out[n++] = L'"';
    out[n] = L'\0';
}

int wmain(int argc, wchar_t **argv)
{
    static const wchar_t head[] = L"start.exe /unix " UNIX_COMMAND;
    /* Worst case: every character escaped, plus quotes and a space each. */
    size_t size = wcslen(head) + 1;
    for (int i = 1; i < argc; i++)
        size += 2 * wcslen(argv[i]) + 3;
    wchar_t *line = calloc(size, sizeof(wchar_t));
    if (line == NULL)
        return 2;
    wcscpy(line, head);
    for (int i = 1; i < argc; i++)
        append_arg(line, argv[i]);

    STARTUPINFOW si = {sizeof(si)};
    PROCESS_INFORMATION pi;
    if (!CreateProcessW(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return 3;
    /* start.exe returns once the Linux program has started. */
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD code = 1;
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    free(line);
    return (int)code;
}
