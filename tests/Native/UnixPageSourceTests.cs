using System;
using System.Linq;
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
        byte[] marker = ProcMaps.Mark(address);

        Assert.True(os.TryUnmap(address, length, out error));
        Assert.Equal(0, error);
        Assert.True(ProcMaps.IsGone(address, (long)length, marker));
    }

    [Fact]
    public void Impossible_map_reports_the_os_error_instead_of_throwing()
    {
        nint address = PageSource.Os.TryMap((nuint)1 << 60, out int error);
        Assert.Equal(0, address);
        Assert.Equal("ENOMEM", PageSource.Os.DescribeError(error));
    }

    [Fact]
    public void Prefault_populates_every_page_in_the_map_call()
    {
        PageSource os = PageSource.Os;
        nuint length = 64 * 1024;
        nint lazy = os.TryMap(length, PageMapOptions.None, out _);
        nint eager = os.TryMap(length, PageMapOptions.Prefault, out _);
        try
        {
            Assert.Equal(0, ResidentPages(lazy, length));
            Assert.Equal(16, ResidentPages(eager, length));
        }
        finally
        {
            Assert.True(os.TryUnmap(lazy, length, out _));
            Assert.True(os.TryUnmap(eager, length, out _));
        }
    }

    [Fact]
    public void Huge_page_mappings_are_2_MiB_aligned_and_marked_for_THP()
    {
        PageSource os = PageSource.Os;
        nuint length = 4 * 1024 * 1024;
        nint address = os.TryMap(length, PageMapOptions.HugePages, out int error);
        Assert.NotEqual(0, address);
        byte[] marker = [];
        try
        {
            Assert.Equal(0, address % (2 * 1024 * 1024));
            Assert.True(ProcMaps.IsMapped(address, (long)length));
            marker = ProcMaps.Mark(address);
            string mode = System.IO.File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
            if (!mode.Contains("[never]", StringComparison.Ordinal))
            {
                Assert.Equal(1, ProcSmaps.Field(address, "THPeligible"));
            }
        }
        finally
        {
            Assert.True(os.TryUnmap(address, length, out error));
        }

        Assert.True(ProcMaps.IsGone(address, (long)length, marker));
    }

    /// <summary>How many pages of the range are resident, by the kernel's own count (mincore).</summary>
    private static int ResidentPages(nint address, nuint length)
    {
        byte[] vector = new byte[(int)(length / (nuint)PageSource.Os.PageSize)];
        Assert.Equal(0, Mono.Unix.Native.Syscall.mincore(address, length, vector));
        return vector.Count(b => (b & 1) != 0);
    }
}
