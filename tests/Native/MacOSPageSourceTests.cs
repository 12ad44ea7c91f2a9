using System;
using System.Runtime.Versioning;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Native;

/// <summary>
/// The macOS page source, run on Linux: mmap and munmap are the same C functions with the same signatures
/// there (in a 64-bit process), so its imports, its MAP_FAILED check and its error plumbing run for real;
/// Darwin's flag values cannot (Linux reads Darwin's MAP_ANON as no anonymous mapping at all, and refuses
/// fd -1), nor its page size, which on Linux is the same whatever the source reads.
/// </summary>
[Collection(ProcMapsReaders.Name)]
[UnsupportedOSPlatform("windows")]
public sealed class MacOSPageSourceTests
{
    // CA1416: the source is macOS-only in the product; these tests call it on Linux on purpose (see above).
#pragma warning disable CA1416
    private readonly MacOSPageSource _source = new();

    [Fact]
    public void A_refused_map_returns_zero_with_the_errno_named()
    {
        // On Linux, Darwin's MAP_PRIVATE | MAP_ANON asks for a private file mapping of descriptor -1: EBADF.
        nint address = _source.TryMap((nuint)_source.PageSize, out int error);

        Assert.Equal(0, address);
        Assert.Equal(9, error); // EBADF
        Assert.Contains("errno 9 (", _source.DescribeError(error), StringComparison.Ordinal);
    }

    [Fact]
    public void Unmap_returns_a_mapping_to_the_os_and_reports_a_refusal()
    {
        nuint length = (nuint)(2 * _source.PageSize);
        nint address = PageSource.Os.TryMap(length, out int error);
        Assert.NotEqual(0, address);
        byte[] marker = ProcMaps.Mark(address);

        Assert.False(_source.TryUnmap(address + 1, length, out error)); // not page-aligned: EINVAL
        Assert.Equal(22, error);
        Assert.True(ProcMaps.IsMapped(address, (long)length));

        Assert.True(_source.TryUnmap(address, length, out error));
        Assert.Equal(0, error);
        Assert.True(ProcMaps.IsGone(address, (long)length, marker));
    }
#pragma warning restore CA1416
}
