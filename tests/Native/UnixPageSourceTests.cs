using System;
using System.Runtime.Versioning;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Native;

[Collection(ProcMapsReaders.Name)]
[UnsupportedOSPlatform("windows")]
public sealed class UnixPageSourceTests
{
    [Fact]
    public void Os_source_is_the_unix_one_here_and_reports_the_kernel_page_size()
    {
        Assert.IsType<UnixPageSource>(PageSource.Os);
        Assert.Equal(Environment.SystemPageSize, PageSource.Os.PageSize);
    }

    [Fact]
    public unsafe void Map_gives_zeroed_writable_pages_and_unmap_returns_them()
    {
        PageSource os = PageSource.Os;
        nuint length = (nuint)(3 * os.PageSize);
        nint address = os.TryMap(length, out int error);
        Assert.NotEqual(0, address);
        Assert.Equal(0, error);
        Assert.Equal(0, address % os.PageSize);
        Assert.True(ProcMaps.IsMapped(address, (long)length));

        var bytes = new Span<byte>((void*)address, (int)length);
        Assert.True(bytes.IndexOfAnyExcept((byte)0) < 0);
        bytes.Fill(0xA5);

        Assert.True(os.TryUnmap(address, length, out error));
        Assert.Equal(0, error);
        Assert.True(ProcMaps.IsUnmapped(address, (long)length));
    }

    [Fact]
    public void Impossible_map_reports_the_os_error_instead_of_throwing()
    {
        nint address = PageSource.Os.TryMap((nuint)1 << 60, out int error);
        Assert.Equal(0, address);
        Assert.Equal("ENOMEM", PageSource.Os.DescribeError(error));
    }
}
