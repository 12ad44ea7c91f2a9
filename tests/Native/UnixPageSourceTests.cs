using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
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
        // The design's path, through Mono.Posix, wherever its helper loads on glibc (as on the hosts this suite
        // has run on); libc directly elsewhere.
        bool helperLoads = NativeLibrary.TryLoad("MonoPosixHelper", typeof(Mono.Unix.Native.Syscall).Assembly, null, out _);
        Assert.Equal(UnixPageSource.IsGlibc() && helperLoads, Assert.IsType<UnixPageSource>(PageSource.Os).ViaMonoPosix);
        Assert.Equal(Environment.SystemPageSize, PageSource.Os.PageSize);
    }

    [Fact]
    public void The_C_library_here_is_glibc_and_the_probe_calls_through_the_helper()
    {
        Assert.True(UnixPageSource.IsGlibc()); // a musl host would fail here: the libc path is then its Os source
        Assert.True(UnixPageSource.HelperLoads(MonoPosixCalls.Probe));
        Assert.Equal(Environment.SystemPageSize, MonoPosixCalls.Probe());
    }

    [Fact]
    public void A_helper_that_does_not_load_sends_the_calls_to_libc_and_any_other_failure_is_thrown()
    {
        Assert.True(UnixPageSource.HelperLoads(() => 4096));
        Assert.False(UnixPageSource.HelperLoads(() => throw new DllNotFoundException("libMonoPosixHelper")));
        Assert.False(UnixPageSource.HelperLoads(() => throw new EntryPointNotFoundException("Mono_Posix_Syscall_mmap")));
        Assert.False(UnixPageSource.HelperLoads(() => throw new FileNotFoundException("Mono.Posix.NETStandard")));
        Assert.False(UnixPageSource.HelperLoads(() => throw new FileLoadException("Mono.Posix.NETStandard")));
        Assert.False(UnixPageSource.HelperLoads(
            () => throw new TypeInitializationException("Mono.Unix.Native.Stdlib", new DllNotFoundException("libMonoPosixHelper"))));
        Assert.Throws<TypeInitializationException>(() => UnixPageSource.HelperLoads(
            () => throw new TypeInitializationException("Mono.Unix.Native.Stdlib", new InvalidOperationException())));
        Assert.Throws<InvalidOperationException>(() => UnixPageSource.HelperLoads(() => throw new InvalidOperationException()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public unsafe void Map_gives_zeroed_writable_pages_and_unmap_returns_them(bool viaMonoPosix)
    {
        var os = new UnixPageSource(viaMonoPosix);
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
    public void An_allocator_over_the_libc_calls_maps_its_folios_and_unmaps_them_on_their_last_release()
    {
        using var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { ThreadCache = false }, new UnixPageSource(viaMonoPosix: false), processors: 1);
        BioVec piece = allocator.Alloc(100);
        piece.AsSpan().Fill(0x5A);
        nint page = piece.Page;
        byte[] marker = ProcMaps.Mark(page);
        Assert.True(ProcMaps.IsMapped(page, allocator.FolioSize));

        allocator.Dispose(); // the arena's share goes: the piece holds the folio alone
        Assert.True(ProcMaps.IsMapped(page, allocator.FolioSize));
        NativePages.Put(piece);
        Assert.True(ProcMaps.IsGone(page, allocator.FolioSize, marker));
        Assert.Equal(1, allocator.GetStatistics().FoliosUnmapped);
    }

    [Theory]
    [InlineData(true, "ENOMEM")]
    [InlineData(false, "errno 12 (")]
    public void Impossible_map_reports_the_os_error_instead_of_throwing(bool viaMonoPosix, string described)
    {
        var os = new UnixPageSource(viaMonoPosix);
        nint address = os.TryMap((nuint)1 << 60, out int error);
        Assert.Equal(0, address);
        Assert.Equal(12, error);
        Assert.StartsWith(described, os.DescribeError(error), StringComparison.Ordinal);
        Assert.DoesNotContain("max_map_count", os.DescribeError(error), StringComparison.Ordinal);

        // A refused map or unmap says what commonly causes it; other errors get their name alone.
        Assert.StartsWith(described, os.DescribeMapError(error), StringComparison.Ordinal);
        Assert.Contains("ulimit -v or -d", os.DescribeMapError(error), StringComparison.Ordinal);
        Assert.Contains("splits a mapping", os.DescribeUnmapError(error), StringComparison.Ordinal);
        Assert.DoesNotContain("ulimit", os.DescribeUnmapError(error), StringComparison.Ordinal);
        Assert.Equal(os.DescribeError(22), os.DescribeMapError(22)); // EINVAL
        Assert.Equal(os.DescribeError(22), os.DescribeUnmapError(22));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Prefault_populates_every_page_in_the_map_call(bool viaMonoPosix)
    {
        var os = new UnixPageSource(viaMonoPosix);
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Huge_page_mappings_are_2_MiB_aligned_and_marked_for_THP(bool viaMonoPosix)
    {
        // 2 MiB whatever this host's THP setting, which only decides whether the mapping is eligible (a host
        // with 16 or 64 KiB pages, whose huge page is larger, fails the eligibility check: see README).
        var os = new UnixPageSource(viaMonoPosix) { HugePageSize = 2 * 1024 * 1024 };
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

    [Fact]
    public void The_huge_page_size_is_the_kernel_s_and_none_where_THP_is_never()
    {
        const string size = "2097152\n";
        Assert.Equal(2 * 1024 * 1024, UnixPageSource.HugePageSizeFrom("always [madvise] never\n", size, 4096));
        Assert.Equal(2 * 1024 * 1024, UnixPageSource.HugePageSizeFrom("[always] madvise never\n", size, 4096));
        Assert.Equal(0, UnixPageSource.HugePageSizeFrom("always madvise [never]\n", size, 4096));
        Assert.Equal(512 * 1024 * 1024, UnixPageSource.HugePageSizeFrom("always [madvise] never", "536870912", 65536)); // arm64, 64 KiB pages
        Assert.Equal(0, UnixPageSource.HugePageSizeFrom("[madvise]", "3000000", 4096));       // not a power of two
        Assert.Equal(0, UnixPageSource.HugePageSizeFrom("[madvise]", "65536", 65536));        // not above the page
        Assert.Equal(0, UnixPageSource.HugePageSizeFrom("[madvise]", "2147483648", 4096));    // above the largest folio
        Assert.Equal(0, UnixPageSource.HugePageSizeFrom("[madvise]", "huge", 4096));

        // Linux 6.8+: the PMD size's own setting rules unless it says inherit.
        Assert.Equal(2 * 1024 * 1024, UnixPageSource.HugePageSizeFrom("always madvise [never]", size, 4096, "always inherit [madvise] never"));
        Assert.Equal(0, UnixPageSource.HugePageSizeFrom("always [madvise] never", size, 4096, "always inherit madvise [never]"));
        Assert.Equal(2 * 1024 * 1024, UnixPageSource.HugePageSizeFrom("always [madvise] never", size, 4096, "always [inherit] madvise never"));

        // This host's, as its sysfs says (none where the files are missing).
        Assert.Equal(SysfsHugePageSize(), new UnixPageSource().HugePageSize);
    }

    [Fact]
    public void A_huge_page_map_is_aligned_to_the_source_s_huge_page_and_without_one_is_a_plain_map()
    {
        // Aligned to what the kernel says, not to a fixed 2 MiB: a 4 MiB huge page (as a kernel might have) gives
        // a 4 MiB-aligned window, over-mapped by 4 MiB less a page.
        const int fourMiB = 4 * 1024 * 1024;
        var source = new TrimRefusingPageSource { HugePageSize = fourMiB, Refuse = (_, _) => true };
        nint address = source.TryMap(fourMiB, PageMapOptions.HugePages, out _);
        Assert.NotEqual(0, address);
        Assert.Equal(0, address % fourMiB);
        Assert.Equal(fourMiB - source.PageSize, source.StrandedBytes); // both trims refused: the slack is kept
        source.Refuse = null;
        Assert.True(source.TryUnmap(address, fourMiB, out _));
        Assert.Equal(0, source.StrandedBytes);

        // No huge page (THP never): no over-map, so nothing to trim.
        var plain = new TrimRefusingPageSource { HugePageSize = 0, Refuse = (_, _) => true };
        address = plain.TryMap(fourMiB, PageMapOptions.HugePages, out _);
        Assert.NotEqual(0, address);
        Assert.Equal(0, plain.Refused);
        plain.Refuse = null;
        Assert.True(plain.TryUnmap(address, fourMiB, out _));
    }

    [Fact]
    public unsafe void A_prefaulted_huge_page_map_is_populated_even_where_the_kernel_lacks_MADV_POPULATE_WRITE()
    {
        const int huge = 2 * 1024 * 1024;
        int pages = huge / PageSource.Os.PageSize;
        var old = new PopulateRefusingPageSource { HugePageSize = huge };
        nint address = old.TryMap(huge, PageMapOptions.HugePages | PageMapOptions.Prefault, out _);
        nint lazy = old.TryMap(huge, PageMapOptions.HugePages, out _);
        Assert.NotEqual(0, address);
        Assert.NotEqual(0, lazy);
        try
        {
            Assert.Equal(1, old.Refused);
            Assert.Equal(pages, ResidentPages(address, huge)); // written page by page instead
            Assert.Equal(0, ResidentPages(lazy, huge));         // not asked: left to the first touch
            Assert.True(new Span<byte>((void*)address, huge).IndexOfAnyExcept((byte)0) < 0);
        }
        finally
        {
            Assert.True(old.TryUnmap(address, huge, out _));
            Assert.True(old.TryUnmap(lazy, huge, out _));
        }
    }

    [Fact]
    public void Huge_page_slack_the_kernel_refuses_to_trim_is_kept_and_given_back_after_a_later_unmap()
    {
        // At vm.max_map_count the kernel refuses to split a mapping, so the trims of an over-map that merged
        // with a neighbour fail; their results were ignored, and up to 2 MiB less a page stayed mapped for the
        // life of the process (the resource-limit hunt).
        const int huge = 2 * 1024 * 1024;
        var source = new TrimRefusingPageSource { HugePageSize = huge, Refuse = (_, length) => length % huge != 0 };
        nint address = source.TryMap(huge, PageMapOptions.HugePages, out int error);
        Assert.NotEqual(0, address);
        Assert.Equal(0, error);
        Assert.Equal(0, address % huge);
        Assert.InRange(source.Refused, 1, 2);
        Assert.Equal(huge - source.PageSize, source.StrandedBytes);
        (nint Address, nuint Length)[] slack = source.StrandedRanges();
        Assert.All(slack, range => Assert.True(ProcMaps.IsMapped(range.Address, (long)range.Length)));
        Assert.All(slack, range => Assert.True(range.Address + (nint)range.Length <= address || range.Address >= address + huge));
        byte[][] markers = [.. slack.Select(range => ProcMaps.Mark(range.Address))];
        byte[] folioMarker = ProcMaps.Mark(address);

        // Still refused: an unmap that succeeds retries the slack, and keeps what is refused again.
        nint other = source.TryMap(huge, PageMapOptions.None, out _);
        Assert.True(source.TryUnmap(other, huge, out _));
        Assert.Equal(huge - source.PageSize, source.StrandedBytes);

        source.Refuse = null;
        Assert.True(source.TryUnmap(address, huge, out error));
        Assert.Equal(0, error);
        Assert.Equal(0, source.StrandedBytes);
        Assert.Empty(source.StrandedRanges());
        Assert.True(ProcMaps.IsGone(address, huge, folioMarker));
        for (int i = 0; i < slack.Length; i++)
        {
            Assert.True(ProcMaps.IsGone(slack[i].Address, (long)slack[i].Length, markers[i]));
        }
    }

    [Fact]
    public void Stranded_slack_is_given_back_before_the_next_map()
    {
        const int huge = 2 * 1024 * 1024;
        var source = new TrimRefusingPageSource { HugePageSize = huge, Refuse = (_, length) => length % huge != 0 };
        nint address = source.TryMap(2 * huge, PageMapOptions.HugePages, out _);
        Assert.NotEqual(0, address);
        Assert.Equal(huge - source.PageSize, source.StrandedBytes);
        (nint Address, nuint Length)[] slack = source.StrandedRanges();
        byte[][] markers = [.. slack.Select(range => ProcMaps.Mark(range.Address))];

        source.Refuse = null;
        nint next = source.TryMap((nuint)source.PageSize, out _);
        Assert.NotEqual(0, next);
        Assert.Equal(0, source.StrandedBytes);
        for (int i = 0; i < slack.Length; i++)
        {
            Assert.True(ProcMaps.IsGone(slack[i].Address, (long)slack[i].Length, markers[i]));
        }

        Assert.True(source.TryUnmap(next, (nuint)source.PageSize, out _));
        Assert.True(source.TryUnmap(address, 2 * huge, out _));
    }

    [Fact]
    public void More_stranded_slack_than_the_first_array_holds_is_all_kept_and_given_back()
    {
        const int huge = 2 * 1024 * 1024;
        var source = new TrimRefusingPageSource { HugePageSize = huge, Refuse = (_, length) => length % huge != 0 };
        var folios = new nint[80];
        for (int i = 0; i < folios.Length; i++)
        {
            folios[i] = source.TryMap(huge, PageMapOptions.HugePages, out _);
            Assert.NotEqual(0, folios[i]);
        }

        Assert.Equal(folios.Length * (long)(huge - source.PageSize), source.StrandedBytes);
        Assert.InRange(source.StrandedRanges().Length, 65, 160); // past the 64 the array starts with (one or two a map)
        source.Refuse = null;
        foreach (nint folio in folios)
        {
            Assert.True(source.TryUnmap(folio, huge, out _));
        }

        Assert.Equal(0, source.StrandedBytes);
        Assert.Empty(source.StrandedRanges());
    }

    /// <summary>How many pages of the range are resident, by the kernel's own count (mincore).</summary>
    /// <summary>The huge page size this host's sysfs gives, read here independently of the source's reader.</summary>
    private static int SysfsHugePageSize()
    {
        const string thp = "/sys/kernel/mm/transparent_hugepage/";
        if (!File.Exists(thp + "enabled") || !File.Exists(thp + "hpage_pmd_size"))
        {
            return 0;
        }

        int size = int.Parse(File.ReadAllText(thp + "hpage_pmd_size").Trim(), CultureInfo.InvariantCulture);
        string perSize = $"{thp}hugepages-{size / 1024}kB/enabled";
        string setting = File.Exists(perSize) && !File.ReadAllText(perSize).Contains("[inherit]", StringComparison.Ordinal)
            ? File.ReadAllText(perSize)
            : File.ReadAllText(thp + "enabled");
        return setting.Contains("[never]", StringComparison.Ordinal) ? 0 : size;
    }

    private static int ResidentPages(nint address, nuint length)
    {
        byte[] vector = new byte[(int)(length / (nuint)PageSource.Os.PageSize)];
        Assert.Equal(0, Mono.Unix.Native.Syscall.mincore(address, length, vector));
        return vector.Count(b => (b & 1) != 0);
    }
}
