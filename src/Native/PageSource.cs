using System;

namespace NativeZcopy.Native;

/// <summary>
/// Where pages come from. The process-wide instance is the operating system's (<see cref="Os"/>), chosen
/// once at start-up; tests wrap it to inject faults. Implementations make no more than a few system calls
/// per method (a huge-page map on Linux: mmap, up to two munmap to trim it, one or two madvise; more only
/// while slack the kernel refused to trim is retried, see <see cref="UnixPageSource"/>) and never
/// throw for an OS refusal: they report the OS error code and let the caller decide. No arena holds its
/// lock across a call to them.
/// </summary>
internal abstract class PageSource
{
    /// <summary>The operating system's page source for this process, picked once.</summary>
    public static PageSource Os { get; } =
        OperatingSystem.IsWindows() ? new WindowsPageSource()
        : OperatingSystem.IsMacOS() ? new MacOSPageSource()
        : new UnixPageSource();

    /// <summary>Size in bytes of one OS page; every mapping is a whole number of them.</summary>
    public abstract int PageSize { get; }

    /// <summary>
    /// Maps <paramref name="length"/> bytes (a multiple of <see cref="PageSize"/>) of fresh, zero-filled,
    /// read/write memory. Returns its page-aligned address, or 0 with the OS error in <paramref name="error"/>.
    /// </summary>
    public abstract nint TryMap(nuint length, out int error);

    /// <summary>
    /// <see cref="TryMap(nuint, out int)"/> with hints. Sources that cannot honour a hint ignore it; the
    /// result is the same memory either way, only its first-touch cost differs.
    /// </summary>
    public virtual nint TryMap(nuint length, PageMapOptions options, out int error) => TryMap(length, out error);

    /// <summary>Returns a whole mapping made by <c>TryMap</c> to the OS. False with the OS error on failure.</summary>
    public abstract bool TryUnmap(nint address, nuint length, out int error);

    /// <summary>A human-readable name for an error code this source reported, for exception messages.</summary>
    public abstract string DescribeError(int error);

    /// <summary><see cref="DescribeError"/> for a refused map, with its usual causes where the source knows them.</summary>
    public virtual string DescribeMapError(int error) => DescribeError(error);

    /// <summary><see cref="DescribeError"/> for a refused unmap, with its usual cause where the source knows it.</summary>
    public virtual string DescribeUnmapError(int error) => DescribeError(error);
}
