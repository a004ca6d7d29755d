/*
 * ProcessPrng for Wine 8 (Debian bookworm's wine64), which has no bcryptprimitives.dll: Rust's
 * standard library takes its random bytes from ProcessPrng there (as on every Windows 10 and
 * later), so without it the Windows binary does not load under that Wine ("Library
 * bcryptprimitives.dll ... not found", exit 53). CI builds this with mingw-w64 and puts it beside
 * the unpacked .exe for the Wine smoke test only; nothing shipped contains it. RtlGenRandom
 * (advapi32's SystemFunction036) is the same system generator.
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x10000 ? 0x10000 : (ULONG)len;
    if (!RtlGenRandom(data, chunk)) return FALSE;
    data += chunk;
    len -= chunk;
  }
  return TRUE;
}
