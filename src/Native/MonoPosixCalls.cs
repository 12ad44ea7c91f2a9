using System;
using System.Runtime.CompilerServices;
using System.Runtime.Versioning;
using Mono.Unix.Native;

namespace NativeZcopy.Native;

/// <summary>
/// Every call <see cref="UnixPageSource"/> makes through Mono.Posix.NETStandard, and the only code that names
/// its types. Each method is <see cref="MethodImplOptions.NoInlining"/> so that compiling a page source method
/// never loads the package's assembly: on a Linux it ships no assembly for (s390x, ppc64le, riscv64,
/// loongarch64) or whose helper does not load, the source calls libc instead and never reaches these.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class MonoPosixCalls
{
    /// <summary>
    /// Makes one call into each native entry point the source uses, none with an effect (a map and an unmap of
    /// zero bytes are refused with EINVAL), so that a helper missing, missing a dependency or missing an entry
    /// point fails here, at start-up, and not in a map the source promises never throws for. Also runs the
    /// static constructors those calls need now, not at the mapping limit (see UnixPageSource's LastError).
    /// Returns the page size.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Probe()
    {
        int pageSize = PageSize();
        _ = Syscall.mmap(IntPtr.Zero, 0, MmapProts.PROT_READ, MmapFlags.MAP_PRIVATE | MmapFlags.MAP_ANONYMOUS, -1, 0);
        _ = Syscall.munmap(IntPtr.Zero, 0);
        _ = NativeConvert.ToErrno(0);
        return pageSize;
    }

    /// <summary><c>sysconf(_SC_PAGESIZE)</c>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int PageSize() => checked((int)Syscall.sysconf(SysconfName._SC_PAGESIZE));

    /// <summary>An anonymous private read/write <c>mmap</c>, with MAP_POPULATE when <paramref name="populate"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static nint Map(nuint length, bool populate) => Syscall.mmap(
        IntPtr.Zero,
        length,
        MmapProts.PROT_READ | MmapProts.PROT_WRITE,
        MmapFlags.MAP_PRIVATE | MmapFlags.MAP_ANONYMOUS | (populate ? MmapFlags.MAP_POPULATE : 0),
        -1,
        0);

    /// <summary><c>munmap</c>: 0, or -1 with errno set.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Unmap(nint address, nuint length) => Syscall.munmap(address, length);

    /// <summary>The errno's name, as the platform numbers it (ENOMEM).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static string Describe(int error) => NativeConvert.ToErrno(error).ToString();
}
