using System;
using System.Collections.Generic;
using NativeZcopy.Native;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Arenas;

public sealed class ArenaTests
{
    private static readonly ZcopyAllocatorOptions s_small = new() { FolioSize = 16384 };

    /// <summary>16 KiB folios cut by the arena alone, so pieces are cut in order and folios let go predictably.</summary>
    private static ZcopyAllocator ArenasOnly(FaultInjectingPageSource source) =>
        new(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false }, source, processors: 1);

    [Fact]
    public void Bias_settles_when_the_folio_turns_over_with_pieces_still_out()
    {
        // The arena alone: with the thread cache, the folios' layout would depend on the test thread's slice
        // (another test's allocator may still own it for 64 more pieces) and on other tests' Trim and Dispose
        // revoking it for a moment (FoliosMapped came out 11 instead of 10 in 2 of 4 suite runs that way).
        var source = new FaultInjectingPageSource();
        var allocator = ArenasOnly(source);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 16 * 10; i++)
        {
            pieces.Add(allocator.Alloc(1024)); // 16 per folio: 10 folios, each let go while all 16 are out
        }

        ZcopyStatistics held = allocator.GetStatistics();
        Assert.Equal(10, held.FoliosMapped);
        Assert.Equal(0, held.FoliosUnmapped);

        // Each folio let go is parked with the arena's unspent share, and at the next change, its pieces
        // still out, left to them: its count is then exactly its pieces. The ninth is still parked.
        for (int folio = 0; folio < 8; folio++)
        {
            Assert.Equal(16, NativePages.RefCount(pieces[folio * 16].Page));
        }

        Assert.True(NativePages.RefCount(pieces[8 * 16].Page) > 16);

        foreach (BioVec piece in pieces.GetRange(0, 16 * 9))
        {
            NativePages.Put(piece);
        }

        Assert.Equal(8, allocator.GetStatistics().FoliosUnmapped);   // the parked one waits for the arena
        pieces.GetRange(16 * 9, 16).ForEach(p => NativePages.Put(p));
        Assert.Equal(8, allocator.GetStatistics().FoliosUnmapped);   // the arena still holds the current one

        allocator.Dispose();
        Assert.Equal(10, allocator.GetStatistics().FoliosUnmapped);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_message_straddling_a_folio_end_lets_the_folio_be_reissued_in_place_not_unmapped_and_replaced()
    {
        var source = new FaultInjectingPageSource();
        using ZcopyAllocator allocator = ArenasOnly(source);
        var stale = new List<BioVec>();
        for (int message = 0; message < 20; message++)
        {
            // 7,000 bytes a message: every other folio ends with a header whose trailer does not fit.
            BioVec header = allocator.Alloc(1000);
            BioVec trailer = allocator.Alloc(6000);
            header.AsSpan().Fill((byte)message);
            trailer.AsSpan().Fill((byte)message);
            Assert.True(header.AsSpan().IndexOfAnyExcept((byte)message) < 0 && trailer.AsSpan().IndexOfAnyExcept((byte)message) < 0);
            NativePages.Put(header);
            NativePages.Put(trailer);
            stale.Add(header);
        }

        // Two folios take turns: each is parked with its last header out and reissued at the next change.
        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(2, stats.FoliosMapped);
        Assert.Equal(0, stats.FoliosUnmapped);
        Assert.True(stats.FoliosReusedInPlace >= 4, $"reused in place {stats.FoliosReusedInPlace} times");
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(stale[0])); // an earlier life's piece
    }

    [Fact]
    public void Trim_unmaps_a_parked_folio_nothing_holds_and_leaves_a_held_one_to_its_pieces()
    {
        var source = new FaultInjectingPageSource();
        using ZcopyAllocator allocator = ArenasOnly(source);
        BioVec first = allocator.Alloc(8192);
        BioVec second = allocator.Alloc(8192);
        BioVec third = allocator.Alloc(8192);        // the first folio is full with pieces out: parked
        NativePages.Put(first);
        NativePages.Put(second);

        // Mapped bytes are read from this allocator's own source: an address released here may already
        // belong to a run of a test running beside this one.
        Assert.Equal(2 * 16384, source.BytesMapped);      // the parked share still holds the first folio
        Assert.Equal(1, allocator.Trim());
        Assert.Equal(16384, source.BytesMapped);

        BioVec fourth = allocator.Alloc(8192);
        BioVec fifth = allocator.Alloc(8192);        // the second folio parked, third and fourth still out
        Assert.Equal(0, allocator.Trim());
        Assert.Equal(2, NativePages.RefCount(third.Page)); // only its pieces hold it now
        NativePages.Put(third);
        Assert.Equal(2 * 16384, source.BytesMapped);
        NativePages.Put(fourth);
        Assert.Equal(16384, source.BytesMapped);           // the current folio only
        NativePages.Put(fifth);
        Assert.Equal(16384, source.BytesMapped);
    }

    [Fact]
    public void After_a_refused_map_a_parked_folio_whose_pieces_came_back_is_reissued_instead_of_mapping_again()
    {
        var source = new FaultInjectingPageSource();
        using ZcopyAllocator allocator = ArenasOnly(source);
        BioVec first = allocator.Alloc(8192);
        BioVec second = allocator.Alloc(8192);       // fills the folio
        source.FailAllMaps = true;
        Assert.False(allocator.TryAlloc(8192, out _)); // the folio parked with its pieces out, no other mapped
        NativePages.Put(first);
        NativePages.Put(second);

        long maps = source.MapCalls;
        BioVec again = allocator.Alloc(8192);        // the OS still refuses: the parked folio starts over
        Assert.Equal(first.Page, again.Page);
        Assert.Equal(maps, source.MapCalls);
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(first)); // its earlier life's piece
        NativePages.Put(again);
        source.FailAllMaps = false;
    }

    [Fact]
    public void A_folio_whose_pieces_all_came_back_is_reissued_in_place_and_old_pieces_are_refused()
    {
        var source = new FaultInjectingPageSource();
        using var allocator = new ZcopyAllocator(s_small, source, processors: 1);
        BioVec first = allocator.Alloc(8192);
        BioVec second = allocator.Alloc(8192);
        NativePages.Put(first);
        NativePages.Put(second);

        BioVec again = allocator.Alloc(8192);   // the folio is full; every piece is back: start over on it
        Assert.Equal(first.Page, again.Page);
        Assert.Equal(0, again.Offset);
        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(1, stats.FoliosMapped);
        Assert.Equal(1, stats.FoliosReusedInPlace);
        Assert.Equal(1, source.MapCalls);

        // A stale piece of the folio's previous life must not move the new life's count.
        int before = NativePages.RefCount(again.Page);
        var error = Assert.Throws<InvalidOperationException>(() => NativePages.Put(first));
        Assert.Contains("already released", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, NativePages.RefCount(again.Page));
        NativePages.Put(again);
    }

    [Fact]
    public void A_folio_mapped_while_another_thread_installed_one_becomes_the_spare_and_is_used_next()
    {
        var source = new FaultInjectingPageSource();
        using var allocator = new ZcopyAllocator(s_small, source, processors: 1);
        BioVec inner = default;

        // While the first Alloc is mapping (outside the arena lock), another Alloc on the same arena runs
        // to completion: it maps and installs its own folio. The first then finds a folio that fits and
        // must keep its own as the spare, not unmap it and not leak it.
        source.OnNextMap = () => inner = allocator.Alloc(8192);
        BioVec outer = allocator.Alloc(8192);
        Assert.Equal(inner.Page, outer.Page);
        Assert.Equal(2, allocator.GetStatistics().FoliosMapped);
        Assert.Equal(2, source.MapCalls);

        BioVec fromSpare = allocator.Alloc(8192);   // current folio is full: the spare, with no new map
        Assert.NotEqual(outer.Page, fromSpare.Page);
        Assert.Equal(2, source.MapCalls);
        Assert.Equal(2, allocator.GetStatistics().FoliosMapped);

        NativePages.Put(inner);
        NativePages.Put(outer);
        NativePages.Put(fromSpare);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void Dispose_unmaps_an_unused_spare()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(s_small, source, processors: 1);
        BioVec inner = default;
        source.OnNextMap = () => inner = allocator.Alloc(100);
        BioVec outer = allocator.Alloc(100);
        NativePages.Put(inner);
        NativePages.Put(outer);
        Assert.Equal(2, allocator.GetStatistics().LiveFolios);

        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>
    /// A folio quarantined because the kernel may still read its bytes (a zero-copy message abandoned when
    /// its socket closed) is unmapped at its final release: never kept in the stash, never reissued in place.
    /// </summary>
    [Fact]
    public void A_quarantined_folio_is_unmapped_at_its_final_release_never_kept_or_reissued()
    {
        var source = new FaultInjectingPageSource();
        using var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false, RetainedFoliosPerArena = 4 }, source, processors: 1);

        BioVec[] first = [allocator.Alloc(8192), allocator.Alloc(8192)];      // folio 1
        BioVec[] second = [allocator.Alloc(8192), allocator.Alloc(8192)];     // folio 2; folio 1 parked
        BioVec third = allocator.Alloc(8192);                                  // folio 3; folio 2 parked, folio 1 left to its pieces

        // Folio 1's pieces are its only holders: released, it would go to the stash; quarantined, it is unmapped.
        NativePages.Quarantine(first[0]);
        NativePages.PutBatch(first);
        Assert.Equal(0, allocator.GetStatistics().FoliosRetained);
        Assert.Equal(1, allocator.GetStatistics().FoliosUnmapped);

        // Folio 2 is parked: with its pieces back, the next folio change would reissue it in place.
        NativePages.Quarantine(second[0]);
        NativePages.PutBatch(second);
        ZcopyStatistics before = allocator.GetStatistics();
        BioVec fourth = allocator.Alloc(8192);                                 // fills folio 3
        BioVec fifth = allocator.Alloc(8192);                                  // the folio change
        ZcopyStatistics after = allocator.GetStatistics();
        Assert.Equal(before.FoliosReusedInPlace, after.FoliosReusedInPlace);
        Assert.Equal(before.FoliosMapped + 1, after.FoliosMapped);
        Assert.Equal(2, after.FoliosUnmapped);                                 // after the lock, before the map
        NativePages.PutBatch([third, fourth, fifth]);
    }

    /// <summary>
    /// A folio under its descriptor's last generation cannot be reissued (the generation would wrap to one a
    /// stale piece may name), so it is unmapped at its final release, never kept for reuse.
    /// </summary>
    [Fact]
    public void A_folio_under_its_last_generation_is_unmapped_at_its_final_release_never_kept()
    {
        var source = new FaultInjectingPageSource();
        using var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false, RetainedFoliosPerArena = 4 }, source, processors: 1);

        BioVec[] first = [allocator.Alloc(8192), allocator.Alloc(8192)];      // folio 1
        BioVec[] second = [allocator.Alloc(8192), allocator.Alloc(8192)];     // folio 2; folio 1 parked
        BioVec third = allocator.Alloc(8192);                                  // folio 3; folio 1 left to its pieces

        // Folio 1's pieces are its only holders, so its life can be moved to the last generation under them.
        long last = PageSideTable.ReissueUnderForTests(first[0].Entry, PageSideTable.LastGeneration);
        NativePages.PutBatch([new BioVec(first[0].Page, first[0].Offset, 8192, last), new BioVec(first[1].Page, first[1].Offset, 8192, last)]);
        Assert.Equal(0, allocator.GetStatistics().FoliosRetained);
        Assert.Equal(1, allocator.GetStatistics().FoliosUnmapped);

        NativePages.PutBatch([.. second, third]);
    }
}
