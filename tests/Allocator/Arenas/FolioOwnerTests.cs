using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Arenas;

/// <summary>
/// A refused unmap is documented as never the caller's failure on the allocator's own paths (Dispose, an
/// arena giving back its share): the run goes on the pending list and is retried. These tests check that
/// promise where it was not kept (found by a review of the lock-free core).
/// </summary>
public sealed class FolioOwnerTests
{
    [Fact]
    public void Dispose_with_retained_folios_does_not_throw_for_a_refused_unmap_and_a_second_dispose_gives_every_folio_back()
    {
        var source = new FaultInjectingPageSource();
        ZcopyAllocator allocator = RetainingFolios(source, pieces: 8); // four folios: two retained, one parked, one current
        Assert.Equal(2, allocator.GetStatistics().FoliosRetained);

        source.FailUnmaps = true;
        Exception? thrown = Record.Exception(allocator.Dispose); // documented: never throws for a refused unmap

        // Once the OS agrees, a further Dispose gives everything back (documented).
        source.FailUnmaps = false;
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().FoliosRetained);
        Assert.Equal(0, source.BytesMapped);
        Assert.Null(thrown);
    }

    [Fact]
    public void Trim_does_not_throw_for_a_refused_unmap_and_still_takes_every_retained_and_parked_folio()
    {
        var source = new FaultInjectingPageSource();
        using ZcopyAllocator allocator = RetainingFolios(source, pieces: 8);
        Assert.Equal(2, allocator.GetStatistics().FoliosRetained);

        source.FailUnmaps = true;
        Exception? thrown = Record.Exception(() => allocator.Trim()); // documented to throw only for a double release
        Assert.Equal(0, allocator.GetStatistics().FoliosRetained);    // every retained folio taken, pending
        source.FailUnmaps = false;
        allocator.Trim();                          // retries what is pending
        Assert.Equal(4096, source.BytesMapped);    // only the current folio is left
        Assert.Null(thrown);
    }

    [Fact]
    public void A_refused_unmap_retried_by_another_thread_before_the_refusal_is_caught_does_not_escape_dispose()
    {
        // The window between the owner deferring a refused run and ReleaseShare's filter asking whether the
        // run is still on the pending list, widened here: the refusal's message is built in that window, and
        // building it lets another thread retry the pending unmaps (as its next map, or its successful unmap,
        // or a Trim would), which takes the run off the list.
        var source = new FaultInjectingPageSource();
        ZcopyAllocator allocator = RetainingFolios(source, pieces: 6); // three folios: one retained, one parked, one current
        Assert.Equal(1, allocator.GetStatistics().FoliosRetained);

        source.FailUnmaps = true;
        source.OnNextDescribeError = () => Task.Run(() =>
        {
            source.FailUnmaps = false;
            allocator.Owner.RetryPendingUnmaps();
        }).Wait();

        Exception? thrown = Record.Exception(allocator.Dispose);
        allocator.Dispose();                       // documented: a further Dispose retries what is pending
        Assert.Equal(0, source.BytesMapped);       // the retained folio too
        Assert.Null(thrown);
    }

    /// <summary>
    /// One arena of 4 KiB folios that retains up to four, after <paramref name="pieces"/> pieces of 2 KiB were cut
    /// and released: each folio but the last two (the current and the parked one) dies and is retained.
    /// </summary>
    private static ZcopyAllocator RetainingFolios(FaultInjectingPageSource source, int pieces)
    {
        var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, ThreadCache = false, RetainedFoliosPerArena = 4 }, source, processors: 1);
        var cut = new List<BioVec>();
        for (int i = 0; i < pieces; i++)
        {
            cut.Add(allocator.Alloc(2048));
        }

        cut.ForEach(p => NativePages.Put(p));
        return allocator;
    }

    [Fact]
    public void A_folio_filled_with_the_smallest_pieces_stays_the_arenas_when_they_all_come_back()
    {
        // The arena's full share is one reference per piece a folio can hold plus one of its own: without that
        // one, the last Put of a folio cut into the smallest pieces took its count to zero behind the arena's
        // back (a mutation test), unmapping or stashing the arena's current folio.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, Alignment = 64, ThreadCache = false }, source, processors: 1);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 4096 / 64; i++)
        {
            pieces.Add(allocator.Alloc(1)); // one aligned unit each: the folio holds exactly FolioSize / Alignment
        }

        Assert.All(pieces, piece => Assert.Equal(pieces[0].Page, piece.Page));
        nint folio = pieces[0].Page;
        pieces.ForEach(piece => NativePages.Put(piece));

        Assert.Equal(1, NativePages.RefCount(folio));
        Assert.Equal(0, allocator.GetStatistics().FoliosUnmapped);

        BioVec next = allocator.Alloc(1);
        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(folio, next.Page);
        Assert.Equal(1, stats.FoliosMapped);
        Assert.Equal(1, stats.FoliosReusedInPlace);

        NativePages.Put(next);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }
}
