using System;
using System.Runtime.Versioning;
using Mono.Unix.Native;

namespace NativeZcopy.Native;

/// <summary>
/// Linux and macOS pages: anonymous private <c>mmap</c>/<c>munmap</c> and <c>sysconf(_SC_PAGESIZE)</c>,
/// through Mono.Posix.NETStandard (its native helper converts the flags for each platform).
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class UnixPageSource : PageSource
{
    /// <summary>The OS page size, read once: it cannot change while the process runs.</summary>
    private readonly int _pageSize = checked((int)Syscall.sysconf(SysconfName._SC_PAGESIZE));

    /// <inheritdoc/>
    public override int PageSize => _pageSize;

    /// <inheritdoc/>
    public override nint TryMap(nuint length, out int error)
    {
        nint address = Syscall.mmap(
            IntPtr.Zero,
            length,
            MmapProts.PROT_READ | MmapProts.PROT_WRITE,
            MmapFlags.MAP_PRIVATE | MmapFlags.MAP_ANONYMOUS,
            -1,
            0);
        if (address == Syscall.MAP_FAILED || address == 0)
        {
            error = (int)Stdlib.GetLastError();
            return 0;
        }

        error = 0;
        return address;
    }

    /// <inheritdoc/>
    public override bool TryUnmap(nint address, nuint length, out int error)
    {
        if (Syscall.munmap(address, length) != 0)
        {
            error = (int)Stdlib.GetLastError();
            return false;
        }

        error = 0;
        return true;
    }

    /// <inheritdoc/>
    public override string DescribeError(int error) => ((Errno)error).ToString();
}
