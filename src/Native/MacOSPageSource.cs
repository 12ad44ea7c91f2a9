using System;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace NativeZcopy.Native;

/// <summary>
/// macOS pages: anonymous private <c>mmap</c>/<c>munmap</c> called directly with Darwin's flag values, not
/// through Mono.Posix.NETStandard as on Linux. That package (1.0.0, the only version there is) ships its
/// native helper for macOS as i386 and x86_64 only, so on Apple Silicon its first call, the page size,
/// fails to load; and its flag conversion refuses MAP_POPULATE with EINVAL on macOS instead of ignoring it.
/// </summary>
/// <remarks>
/// No map option applies: Darwin has neither MAP_POPULATE nor transparent huge pages, so a folio is faulted
/// in on first touch. Compiled in every build and not run here (no macOS machine); the imports bind and
/// report errors on Linux too, which the tests check, and the flag values are xnu's bsd/sys/mman.h.
/// </remarks>
[SupportedOSPlatform("macos")]
internal sealed class MacOSPageSource : PageSource
{
    /// <summary>The OS page size: 16 KiB for arm64 processes on Apple Silicon, 4 KiB on Intel Macs.</summary>
    public override int PageSize { get; } = Environment.SystemPageSize;

    /// <inheritdoc/>
    public override nint TryMap(nuint length, out int error)
    {
        nint address = Interop.Libc.Mmap(
            0,
            length,
            Interop.OSX.PROT_READ | Interop.OSX.PROT_WRITE,
            Interop.OSX.MAP_PRIVATE | Interop.OSX.MAP_ANON,
            -1,
            0);

        // Failure is MAP_FAILED, (void *)-1, not null; null is refused too, as a page the side table cannot hold.
        if (address == -1 || address == 0)
        {
            error = Marshal.GetLastPInvokeError();
            return 0;
        }

        error = 0;
        return address;
    }

    /// <inheritdoc/>
    public override bool TryUnmap(nint address, nuint length, out int error)
    {
        bool unmapped = Interop.Libc.Munmap(address, length) == 0;
        error = unmapped ? 0 : Marshal.GetLastPInvokeError();
        return unmapped;
    }

    /// <inheritdoc/>
    public override string DescribeError(int error) => $"errno {error} ({Marshal.GetPInvokeErrorMessage(error)})";
}
