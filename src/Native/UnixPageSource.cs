using System;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Threading;

namespace NativeZcopy.Native;

/// <summary>
/// Linux pages: anonymous private <c>mmap</c>/<c>munmap</c> and <c>sysconf(_SC_PAGESIZE)</c>, through
/// Mono.Posix.NETStandard (its native helper converts the flags). Picked on every OS but Windows and macOS
/// (<see cref="MacOSPageSource"/>), though the package ships its helper for Linux alone among them.
/// </summary>
/// <remarks>
/// <para>
/// In a 64-bit Linux process the same calls go to libc directly, with Linux's flag values
/// (<see cref="ViaMonoPosix"/> false), where the package cannot serve: on musl (Alpine), whose libc would
/// run the glibc-built helper (it may load there, and then die on the first glibc-only symbol it reaches);
/// where the helper does not load (it needs libz.so.1, absent from some images; on arm64 and arm it needs
/// glibc's loader); and where the package ships no assembly (s390x, ppc64le, riscv64). Any of those failed
/// every use of the library. In a 32-bit process the package's path is kept, whatever it does (see
/// <see cref="Interop.Libc.Mmap"/>): on 32-bit Alpine, nothing works. <see cref="MonoPosixCalls"/> holds
/// every call through the package.
/// </para>
/// <para>
/// A huge-page mapping is over-mapped and trimmed to a window aligned to the kernel's huge page (2 MiB on
/// x86-64 and on arm64 with 4 KiB pages, 32 MiB with 16 KiB pages, 512 MiB with 64 KiB pages). A trim can be refused: a
/// process at <c>vm.max_map_count</c> cannot have a mapping split, and the over-map may have merged with a
/// neighbouring mapping so that its slack lies inside one. The refused slack is kept on a list, not lost,
/// and given back after the next unmap that succeeds (which may have made room) and before the next map.
/// Slack is never touched, so it holds address space, not memory (but commit charge, under strict overcommit,
/// vm.overcommit_memory=2); giving back a range from inside a mapping
/// costs the process one more mapping, which at the limit may be the one a later map needed (that map then
/// fails with ENOMEM, as it would have a little earlier). Returning what is ours was preferred.
/// </para>
/// </remarks>
[UnsupportedOSPlatform("windows")]
internal class UnixPageSource : PageSource
{
    /// <summary>The OS page size, read once: it cannot change while the process runs.</summary>
    private readonly int _pageSize;

    /// <summary>The process's source: through Mono.Posix where it can serve, else libc directly (see the remarks).</summary>
    public UnixPageSource()
        : this(!OperatingSystem.IsLinux() || IntPtr.Size != 8 || (IsGlibc() && HelperLoads(MonoPosixCalls.Probe)))
    {
    }

    /// <summary>A source that calls through Mono.Posix, or (Linux, 64-bit only) libc directly.</summary>
    internal UnixPageSource(bool viaMonoPosix)
    {
        ViaMonoPosix = viaMonoPosix;
        _pageSize = viaMonoPosix ? MonoPosixCalls.PageSize() : Environment.SystemPageSize;
    }

    /// <summary>
    /// Slack of huge-page over-maps the kernel refused to unmap, to be given back later. Guarded by
    /// <see cref="_strandedLock"/>; empty except in a process at its mapping limit.
    /// </summary>
    private (nint Address, nuint Length)[] _stranded = new (nint, nuint)[StrandedCapacity];

    /// <summary>Entries of <see cref="_stranded"/> in use. Guarded by <see cref="_strandedLock"/>.</summary>
    private int _strandedCount;

    /// <summary>
    /// Room for this many stranded ranges (two per refused huge-page map) before the array doubles. Allocated
    /// up front, and kept in a plain array rather than a List, because the first refusal comes at the
    /// mapping limit, where a method the JIT has not compiled yet may find no room for its code and end the
    /// process (a real-kernel run at vm.max_map_count aborted in List.Add's first resize).
    /// </summary>
    private const int StrandedCapacity = 64;

    /// <summary>Guards <see cref="_stranded"/> and <see cref="_strandedBytes"/>; retries make their munmap calls under it.</summary>
    private readonly Lock _strandedLock = new();

    /// <summary>Bytes on <see cref="_stranded"/>. Written under <see cref="_strandedLock"/>; read with Volatile as a hint.</summary>
    private long _strandedBytes;

    /// <inheritdoc/>
    public override int PageSize => _pageSize;

    /// <summary>True when the calls go through Mono.Posix's native helper, false when they go to libc directly.</summary>
    internal bool ViaMonoPosix { get; }

    /// <summary>
    /// Whether the process's C library is glibc, which the package's Linux helpers are built for: only glibc
    /// exports <c>gnu_get_libc_version</c> (musl does not), and the C library is among the main program's
    /// dependencies, which its handle searches.
    /// </summary>
    internal static bool IsGlibc() =>
        NativeLibrary.TryGetExport(NativeLibrary.GetMainProgramHandle(), "gnu_get_libc_version", out _);

    /// <summary>
    /// Whether Mono.Posix can serve: <paramref name="probe"/> calls each entry point through it
    /// (<see cref="MonoPosixCalls.Probe"/>). It cannot where its helper does not load or lacks an entry point
    /// (DllNotFoundException, EntryPointNotFoundException, either one wrapped in the TypeInitializationException
    /// of a Mono.Posix type whose static constructor calls the helper first), or where its assembly was not
    /// deployed (FileNotFoundException, FileLoadException). Any other failure is not ours to hide.
    /// </summary>
    internal static bool HelperLoads(Func<int> probe)
    {
        try
        {
            _ = probe();
            return true;
        }
        catch (Exception error) when (CannotServe(error) || (error is TypeInitializationException && CannotServe(error.InnerException)))
        {
            return false;
        }

        static bool CannotServe(Exception? error) =>
            error is DllNotFoundException or EntryPointNotFoundException or FileNotFoundException or FileLoadException;
    }

    /// <summary>Bytes of over-map slack the kernel refused to unmap so far and not yet given back.</summary>
    internal long StrandedBytes => Volatile.Read(ref _strandedBytes);

    /// <summary>The slack ranges not yet given back (see <see cref="StrandedBytes"/>), as a copy.</summary>
    internal (nint Address, nuint Length)[] StrandedRanges()
    {
        lock (_strandedLock)
        {
            return _stranded.AsSpan(0, _strandedCount).ToArray();
        }
    }

    /// <summary>The folder of the sysfs files that say whether transparent huge pages are on, and their size.</summary>
    private const string ThpFolder = "/sys/kernel/mm/transparent_hugepage/";

    /// <summary>
    /// The kernel's transparent huge page, what a huge-page map is aligned to and a whole number of; 0 where
    /// there are none to ask for (not Linux, THP compiled out, set to never, or sysfs unreadable), and the
    /// over-map is not made. Read from sysfs when the source is made; tests set another.
    /// </summary>
    internal int HugePageSize { get; init; } = ReadHugePageSize();

    /// <summary>The huge page size for this process (see <see cref="HugePageSize"/>).</summary>
    private static int ReadHugePageSize()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        try
        {
            string size = File.ReadAllText(ThpFolder + "hpage_pmd_size");
            string perSize = ThpFolder + $"hugepages-{(long.TryParse(size.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long bytes) ? bytes / 1024 : 0)}kB/enabled";
            return HugePageSizeFrom(
                File.ReadAllText(ThpFolder + "enabled"),
                size,
                Environment.SystemPageSize,
                File.Exists(perSize) ? File.ReadAllText(perSize) : null);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // No such files (a kernel without THP, or before 4.10, which has no hpage_pmd_size), or a sysfs the
            // process may not read: no huge-page path, as if THP were never.
            return 0;
        }
    }

    /// <summary>
    /// The huge page size the sysfs files give: 0 when THP is set to never for it, or the size is not a power
    /// of two above the page size and at most 1 GiB (the largest folio); the size otherwise. Since Linux 6.8 the
    /// PMD size has its own setting (<paramref name="perSizeEnabled"/>, null where there is none), which rules
    /// unless it says inherit, when the top-level one (<paramref name="enabled"/>) does.
    /// </summary>
    internal static int HugePageSizeFrom(string enabled, string size, int pageSize, string? perSizeEnabled = null)
    {
        string setting = perSizeEnabled is not null && !perSizeEnabled.Contains("[inherit]", StringComparison.Ordinal)
            ? perSizeEnabled
            : enabled;
        return !setting.Contains("[never]", StringComparison.Ordinal)
            && long.TryParse(size.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long bytes)
            && bytes > pageSize && bytes <= 1 << 30 && long.IsPow2(bytes)
            ? (int)bytes
            : 0;
    }

    /// <inheritdoc/>
    public override nint TryMap(nuint length, out int error) => TryMap(length, PageMapOptions.None, out error);

    /// <inheritdoc/>
    public override unsafe nint TryMap(nuint length, PageMapOptions options, out int error)
    {
        RetryStranded();
        int hugePage = HugePageSize;
        bool huge = (options & PageMapOptions.HugePages) != 0 && hugePage != 0 && length % (nuint)hugePage == 0;
        bool prefault = (options & PageMapOptions.Prefault) != 0;
        if (!huge)
        {
            // MAP_POPULATE faults every page in inside this one call. Linux only: Mono.Posix refuses it with
            // EINVAL where the platform has no such flag, which would fail every map.
            return Map(length, prefault && OperatingSystem.IsLinux(), out error);
        }

        // Over-map by a huge page less one small page, then return the head and tail that lie outside the
        // aligned window: the kernel can only back aligned huge-page ranges with huge pages.
        nuint slack = (nuint)(hugePage - _pageSize);
        nint raw = Map(length + slack, populate: false, out error);
        if (raw == 0)
        {
            return 0;
        }

        nint aligned = (nint)(((nuint)raw + (nuint)(hugePage - 1)) & ~(nuint)(hugePage - 1));
        nuint head = (nuint)(aligned - raw);

        Trim(raw, head);
        Trim(aligned + (nint)length, slack - head);

        // A hint: a kernel without THP refuses it, and the memory is then ordinary pages.
        Interop.Libc.Madvise(aligned, length, Interop.Libc.MADV_HUGEPAGE);
        if (prefault && !TryPopulate(aligned, length))
        {
            // Before Linux 5.14 there is no MADV_POPULATE_WRITE (EINVAL). Prefaulting was asked for, so the
            // pages are faulted in here by a write to each, which is what the first touch would do later;
            // zero over zero-filled memory changes nothing. Any other refusal (ENOMEM, say) is left to the
            // first touch, which would meet it anyway.
            for (nuint offset = 0; offset < length; offset += (nuint)_pageSize)
            {
                *(byte*)(aligned + (nint)offset) = 0;
            }
        }

        return aligned;
    }

    /// <summary>
    /// <c>madvise(MADV_POPULATE_WRITE)</c>: faults the range in, writable. False only when the kernel does not
    /// know the advice (EINVAL); tests override it to be such a kernel.
    /// </summary>
    internal virtual bool TryPopulate(nint address, nuint length) =>
        Interop.Libc.Madvise(address, length, Interop.Libc.MADV_POPULATE_WRITE) == 0
        || Marshal.GetLastPInvokeError() != Interop.Libc.EINVAL;

    private nint Map(nuint length, bool populate, out int error)
    {
        nint address = ViaMonoPosix
            ? MonoPosixCalls.Map(length, populate)
            : Interop.Libc.Mmap(
                0,
                length,
                Interop.Libc.PROT_READ | Interop.Libc.PROT_WRITE,
                Interop.Libc.MAP_PRIVATE | Interop.Libc.MAP_ANONYMOUS | (populate ? Interop.Libc.MAP_POPULATE : 0),
                -1,
                0);
        // MAP_FAILED is (void*)-1, compared as a literal: the first read of Syscall.MAP_FAILED runs Syscall's
        // static constructor, whose own native calls overwrote the error this one left.
        if (address == -1 || address == 0)
        {
            error = LastError();
            return 0;
        }

        error = 0;
        return address;
    }

    /// <inheritdoc/>
    public override bool TryUnmap(nint address, nuint length, out int error)
    {
        if (!TryRelease(address, length, out error))
        {
            return false;
        }

        RetryStranded();
        return true;
    }

    /// <summary>One <c>munmap</c>; false with the OS error when refused. Tests override it to refuse.</summary>
    internal virtual bool TryRelease(nint address, nuint length, out int error)
    {
        if ((ViaMonoPosix ? MonoPosixCalls.Unmap(address, length) : Interop.Libc.Munmap(address, length)) != 0)
        {
            error = LastError();
            return false;
        }

        error = 0;
        return true;
    }

    /// <summary>Unmaps slack outside a huge-page window, or keeps it on the stranded list if the kernel refuses.</summary>
    private void Trim(nint address, nuint length)
    {
        if (length == 0 || TryRelease(address, length, out _))
        {
            return;
        }

        lock (_strandedLock)
        {
            if (_strandedCount == _stranded.Length)
            {
                var larger = new (nint, nuint)[_stranded.Length * 2];
                Array.Copy(_stranded, larger, _strandedCount);
                _stranded = larger;
            }

            _stranded[_strandedCount++] = (address, length);
            Volatile.Write(ref _strandedBytes, _strandedBytes + (long)length);
        }
    }

    /// <summary>Gives back what slack it can. Free when nothing is stranded: one volatile read.</summary>
    private void RetryStranded()
    {
        if (Volatile.Read(ref _strandedBytes) == 0)
        {
            return;
        }

        lock (_strandedLock)
        {
            for (int i = _strandedCount - 1; i >= 0; i--)
            {
                (nint address, nuint length) = _stranded[i];
                if (TryRelease(address, length, out _))
                {
                    _stranded[i] = _stranded[--_strandedCount];
                    Volatile.Write(ref _strandedBytes, _strandedBytes - (long)length);
                }
            }
        }
    }

    /// <summary>
    /// The errno of the system call just made, as the platform numbers it (<see cref="DescribeError"/> names
    /// it). Callers read it before touching any static field of Mono.Posix: a process's first read of one
    /// runs a static constructor that makes native calls of its own and overwrites the saved error (a
    /// process's first refused map read "0"). Not converted here, which would be a first call into
    /// Mono.Posix's converter, to be compiled, at the mapping limit where trims are refused.
    /// </summary>
    private static int LastError() => Marshal.GetLastPInvokeError();

    /// <inheritdoc/>
    public override string DescribeError(int error) =>
        ViaMonoPosix ? MonoPosixCalls.Describe(error) : $"errno {error} ({Marshal.GetPInvokeErrorMessage(error)})";

    /// <inheritdoc/>
    /// <remarks>
    /// A map refused for want of memory has several causes on Linux that the errno does not tell apart, and a
    /// reader of the message otherwise suspects only the last: examples, not a complete list.
    /// </remarks>
    public override string DescribeMapError(int error) =>
        error == Interop.Libc.ENOMEM && OperatingSystem.IsLinux()
            ? $"{DescribeError(error)} (for example the process's address-space or data limit, ulimit -v or -d; its mapping count, vm.max_map_count; or the commit limit, under vm.overcommit_memory=2, or more than RAM and swap under the default)"
            : DescribeError(error);

    /// <inheritdoc/>
    /// <remarks>An unmap refused for want of memory is one that splits a mapping at the mapping limit.</remarks>
    public override string DescribeUnmapError(int error) =>
        error == Interop.Libc.ENOMEM && OperatingSystem.IsLinux()
            ? $"{DescribeError(error)} (the unmap splits a mapping, which needs one more, and the process is at its mapping count, vm.max_map_count)"
            : DescribeError(error);
}
