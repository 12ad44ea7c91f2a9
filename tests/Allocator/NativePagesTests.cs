using System;
using System.Threading;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

[Collection(ProcMapsReaders.Name)]
public sealed class NativePagesTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(1 << 20)]
    public void Alloc_maps_whole_pages_with_one_ref_and_the_last_put_unmaps(int size)
    {
        int page = NativePages.OsPageSize;
        long mapped = ((long)size + page - 1) / page * page;
        BioVec run = NativePages.Alloc(size);

        Assert.Equal(size, run.Length);
        Assert.Equal(0, run.Offset);
        Assert.Equal(0, run.Page % page);
        Assert.True(ProcMaps.IsMapped(run.Page, mapped));
        Assert.Equal(1, NativePages.RefCount(run.Page));
        Assert.Equal(1, NativePages.RefCount(run.Page + (nint)(mapped - 1)));
        Assert.True(NativePages.IsNativePage(run.Page + (nint)(mapped / 2)));
        // The byte past the run is not part of it. It may well be part of another live run: mmap places
        // new mappings right below earlier ones, which can be ours (the shared allocator's folio, say).
        Assert.NotEqual(PageSideTable.Find(run.Page), PageSideTable.Find(run.Page + (nint)mapped));

        NativePages.Get(run.Page + (nint)(mapped - 1));
        Assert.Equal(2, NativePages.RefCount(run.Page));
        NativePages.Put(run.Page + 1);
        Assert.True(ProcMaps.IsMapped(run.Page, mapped));
        byte[] marker = ProcMaps.Mark(run.Page);
        NativePages.Put(run);

        Assert.Equal(0, NativePages.RefCount(run.Page));
        Assert.False(NativePages.IsNativePage(run.Page));
        Assert.True(ProcMaps.IsGone(run.Page, mapped, marker));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void Alloc_refuses_a_size_that_is_not_positive(int size)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => NativePages.Alloc(size));
        Assert.Equal("size", error.ParamName); // the public method's own parameter
        Assert.Contains(size.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void Get_and_put_on_foreign_memory_are_refused_naming_the_address()
    {
        byte* foreign = stackalloc byte[16];
        foreach (nint address in new[] { 0, (nint)foreign, (nint)1 << 47, -1 })
        {
            string hex = $"0x{address:X}";
            Assert.Contains(hex, Assert.Throws<InvalidOperationException>(() => NativePages.Get(address)).Message, StringComparison.Ordinal);
            Assert.Contains(hex, Assert.Throws<InvalidOperationException>(() => NativePages.Put(address)).Message, StringComparison.Ordinal);
            Assert.Equal(0, NativePages.RefCount(address));
            Assert.False(NativePages.IsNativePage(address));
        }
    }

    [Fact]
    public void Put_of_a_released_run_is_refused_and_leaves_a_new_run_at_the_same_address_alone()
    {
        BioVec old = NativePages.Alloc(4096);
        NativePages.Put(old);
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(old.Page));
        Assert.Throws<InvalidOperationException>(() => NativePages.Get(old.Page));

        // The OS usually hands the same addresses out again; whether or not it does, the stale piece must
        // not move the new run's count.
        BioVec fresh = NativePages.Alloc(4096);
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() => NativePages.Put(old));
            Assert.Contains("already released", error.Message, StringComparison.Ordinal);
            Assert.Throws<InvalidOperationException>(() => NativePages.Get(old));
            Assert.Equal(1, NativePages.RefCount(fresh.Page));
        }
        finally
        {
            NativePages.Put(fresh);
        }
    }

    [Fact]
    public void Get_stops_at_the_duplicate_ceiling_naming_it_and_keeps_the_count()
    {
        // Below int.MaxValue by the 2^29 references slices may still add to a folio's count without a check.
        BioVec run = NativePages.Alloc(100);
        ref long state = ref PageSideTable.Run(PageSideTable.Find(run.Page)).State;
        Interlocked.Add(ref state, PageSideTable.MaxDuplicatedCount - 2);
        try
        {
            NativePages.Get(run);
            Assert.Equal(PageSideTable.MaxDuplicatedCount, NativePages.RefCount(run.Page));
            var error = Assert.Throws<InvalidOperationException>(() => NativePages.Get(run));
            Assert.Contains(PageSideTable.MaxDuplicatedCount.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            Assert.Contains($"0x{run.Page:X}", error.Message, StringComparison.Ordinal);
            Assert.Equal(PageSideTable.MaxDuplicatedCount, NativePages.RefCount(run.Page));
        }
        finally
        {
            Interlocked.Add(ref state, -(PageSideTable.MaxDuplicatedCount - 1));
        }

        Assert.Equal(1, NativePages.RefCount(run.Page));
        NativePages.Put(run);
        Assert.False(NativePages.IsLive(run));
    }

    [Fact]
    public void Put_of_an_empty_piece_is_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => NativePages.Put(default(BioVec)));
        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BytesMapped_counts_each_run_as_mapped_from_its_map_to_its_unmap()
    {
        // The process total the metrics' remarks point to; nothing read it, so nothing checked it (a mutation test).
        Collections.SettleDroppedAllocators();
        long before = NativePages.BytesMapped;
        BioVec run = NativePages.Alloc(10_000);
        Assert.Equal(before + 12_288, NativePages.BytesMapped);      // whole pages, as mapped

        NativePages.Put(run);
        Assert.Equal(before, NativePages.BytesMapped);
    }

    [Fact]
    public void An_os_refusal_is_out_of_memory_naming_the_requested_and_mapped_sizes_and_the_error_and_keeps_nothing()
    {
        var source = new FaultInjectingPageSource { FailAllMaps = true };
        var owner = new PageRunOwner(source);
        Collections.SettleDroppedAllocators();
        int before = PageSideTable.LiveRuns;

        var error = Assert.Throws<OutOfMemoryException>(() => NativePages.Alloc(10_000, owner));
        Assert.Contains("12288 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("10000 requested", error.Message, StringComparison.Ordinal);
        Assert.Contains("ENOMEM", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(before, PageSideTable.LiveRuns);
    }

    [Fact]
    public void A_refused_unmap_throws_naming_the_run_and_keeps_it_registered_dead_until_a_retry()
    {
        var source = new FaultInjectingPageSource();
        var owner = new PageRunOwner(source);
        BioVec run = NativePages.Alloc(4096, owner);

        source.FailUnmaps = true;
        var error = Assert.Throws<InvalidOperationException>(() => NativePages.Put(run));
        Assert.Contains($"0x{run.Page:X}", error.Message, StringComparison.Ordinal);
        Assert.Contains("ENOMEM", error.Message, StringComparison.Ordinal);

        // The run is dead: no Get can revive it, and a second Put cannot take the count below zero.
        Assert.Equal(0, NativePages.RefCount(run.Page));
        Assert.Throws<InvalidOperationException>(() => NativePages.Get(run.Page));
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(run));
        Assert.True(ProcMaps.IsMapped(run.Page, 4096));

        // Nothing is lost: the owner keeps the run pending and gives it back once the OS agrees.
        Assert.Equal(1, owner.PendingUnmaps);
        Assert.Equal(0, owner.RetryPendingUnmaps());
        source.FailUnmaps = false;
        Assert.Equal(1, owner.RetryPendingUnmaps());
        Assert.Equal(0, owner.PendingUnmaps);
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, PageSideTable.Find(run.Page));
    }

    [Fact]
    public void IsLive_is_false_once_a_pieces_page_life_ended_even_when_the_folio_is_reissued_at_the_same_address()
    {
        BioVec run = NativePages.Alloc(100);
        Assert.True(NativePages.IsLive(run));
        NativePages.Put(run);
        Assert.False(NativePages.IsLive(run));
        Assert.False(NativePages.IsLive(default));

        using ZcopyAllocator allocator = LastReferenceOfAFolio.NewRetainingAllocator();
        BioVec stale = LastReferenceOfAFolio.Cut(allocator, fill: 1);
        Assert.True(NativePages.IsLive(stale));
        BioVec reissued = LastReferenceOfAFolio.ReleaseAndReissue(allocator, stale);   // the same folio, a new generation
        Assert.Equal(stale.Address, reissued.Address);
        Assert.True(NativePages.IsLive(reissued));
        Assert.False(NativePages.IsLive(stale));
    }

    [Fact]
    public void IsLive_sees_a_released_piece_of_a_live_folio_only_with_fragment_tracking()
    {
        using var tracked = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true });
        BioVec released = tracked.Alloc(64);
        BioVec neighbour = tracked.Alloc(64);
        NativePages.Put(released);
        Assert.Equal(neighbour.Page, released.Page);
        Assert.False(NativePages.IsLive(released));
        Assert.True(NativePages.IsLive(neighbour));
        NativePages.Put(neighbour);

        // Untracked, the page count cannot tell the holders of a folio apart: as documented, it reads as live.
        using var untracked = new ZcopyAllocator();
        BioVec piece = untracked.Alloc(64);
        BioVec other = untracked.Alloc(64);
        NativePages.Put(piece);
        Assert.True(NativePages.IsLive(piece));
        NativePages.Put(other);
    }
}
