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

    /// <summary>
    /// The transparent huge page size on x86-64 and arm64 with 4 KiB pages. Only used as an alignment
    /// hint: if the kernel's is different, the mapping is still correct, just not huge.
    /// </summary>
    private const int HugePageSize = 2 * 1024 * 1024;

    /// <inheritdoc/>
    public override nint TryMap(nuint length, out int error) => TryMap(length, PageMapOptions.None, out error);

    /// <inheritdoc/>
    public override nint TryMap(nuint length, PageMapOptions options, out int error)
    {
        bool huge = (options & PageMapOptions.HugePages) != 0 && OperatingSystem.IsLinux() && length % HugePageSize == 0;
        bool prefault = (options & PageMapOptions.Prefault) != 0;
        if (!huge)
        {
            // MAP_POPULATE faults every page in inside this one call (Linux; ignored elsewhere).
            return Map(length, prefault ? MmapFlags.MAP_POPULATE : 0, out error);
        }

        // Over-map by a huge page less one small page, then return the head and tail that lie outside the
        // 2 MiB-aligned window: the kernel can only back aligned 2 MiB ranges with huge pages.
        nuint slack = (nuint)(HugePageSize - _pageSize);
        nint raw = Map(length + slack, 0, out error);
        if (raw == 0)
        {
            return 0;
        }

        nint aligned = (nint)(((nuint)raw + (nuint)(HugePageSize - 1)) & ~(nuint)(HugePageSize - 1));
        nuint head = (nuint)(aligned - raw);

        // munmap of a page-aligned part of a mapping this call just made fails only for bad arguments.
        if (head != 0)
        {
            _ = Syscall.munmap(raw, head);
        }

        if (slack - head != 0)
        {
            _ = Syscall.munmap(aligned + (nint)length, slack - head);
        }

        // Both are hints: a kernel without THP or without MADV_POPULATE_WRITE (before 5.14) refuses them,
        // and the memory is then ordinary pages faulted on first touch.
        Interop.Libc.Madvise(aligned, length, Interop.Libc.MADV_HUGEPAGE);
        if (prefault)
        {
            Interop.Libc.Madvise(aligned, length, Interop.Libc.MADV_POPULATE_WRITE);
        }

        return aligned;
    }

    private static nint Map(nuint length, MmapFlags extra, out int error)
    {
        nint address = Syscall.mmap(
            IntPtr.Zero,
            length,
            MmapProts.PROT_READ | MmapProts.PROT_WRITE,
            MmapFlags.MAP_PRIVATE | MmapFlags.MAP_ANONYMOUS | extra,
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
