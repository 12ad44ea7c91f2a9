using System;
using System.Collections.Generic;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.ThreadCache;

/// <summary>
/// Releases a thread makes on a folio life that is not its slice's are deferred and dropped from the shared
/// count in one step: when the run of releases ends, at once when they are all the life has left, and
/// when Trim or Dispose reclaims them (also from a dead thread).
/// </summary>
[Collection(DeferredReleaseReaders.Name)]
public sealed class DeferredReleaseTests
{
    private static readonly ZcopyAllocatorOptions SmallFolios = new() { FolioSize = 16384 };

    [Fact]
    public void Releases_on_another_threads_folio_are_dropped_in_one_step_when_the_run_ends()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        var other = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 10);
        BioVec elsewhere = default;
        int before = 0;
        owner.Run(() =>
        {
            elsewhere = other.Alloc(64); // another folio life, for ending the releaser's run
            before = NativePages.RefCount(pieces[0].Page);
        });

        releaser.Run(() =>
        {
            foreach (BioVec piece in pieces)
            {
                NativePages.Put(piece);
            }

            // The releaser does not count what it deferred; the shared count has not moved yet.
            Assert.Equal(before - 10, NativePages.RefCount(pieces[0].Page));
        });
        owner.Run(() => Assert.Equal(before, NativePages.RefCount(pieces[0].Page)));

        releaser.Run(() => NativePages.Put(elsewhere)); // a piece of another life: the run ends
        owner.Run(() => Assert.Equal(before - 10, NativePages.RefCount(pieces[0].Page)));

        allocator.Dispose();
        other.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_last_release_unmaps_the_folio_at_once_though_the_releases_before_it_were_deferred(bool batch)
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 10);

        allocator.Dispose(); // the arena's and the slice's references go: only the pieces hold the folio
        nint folio = pieces[0].Page;
        releaser.Run(() =>
        {
            if (batch)
            {
                NativePages.PutBatch(pieces.ToArray().AsSpan(0, 9));
            }
            else
            {
                pieces.GetRange(0, 9).ForEach(piece => NativePages.Put(piece));
            }
        });
        owner.Run(() => Assert.Equal(10, NativePages.RefCount(folio))); // deferred by the releaser
        Assert.NotEqual(0, source.BytesMapped);

        releaser.Run(() => NativePages.Put(pieces[9]));
        Assert.Equal(0, source.BytesMapped); // no Trim, no further release: the final one unmapped it
        releaser.Run(() => Assert.Throws<InvalidOperationException>(() => NativePages.Put(pieces[0])));
    }

    [Fact]
    public void The_last_release_unmaps_at_once_when_the_count_rose_after_the_deferral_read_it()
    {
        // A reference taken on the life after the deferral started: ten deferred refs are then not the
        // final ones, and the release of that reference too must find the final one and unmap at once.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 10);
        allocator.Dispose(); // only the pieces hold the folio: a count of 10
        nint folio = pieces[0].Page;

        releaser.Run(() => pieces.GetRange(0, 5).ForEach(piece => NativePages.Put(piece))); // read 10, hold 5
        owner.Run(() => NativePages.Get(pieces[9])); // 11 now
        releaser.Run(() => pieces.GetRange(5, 5).ForEach(piece => NativePages.Put(piece))); // hold 10 of 11
        owner.Run(() => Assert.Equal(11, NativePages.RefCount(folio)));
        Assert.NotEqual(0, source.BytesMapped);

        releaser.Run(() => NativePages.Put(pieces[9])); // the reference Get took: the final one
        Assert.Equal(0, source.BytesMapped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Trim_drops_what_an_idle_or_dead_thread_deferred(bool releaserDies)
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        var releaser = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 10);
        allocator.Trim(); // the owner's slice goes back; the arena's share and the pieces remain

        int before = 0;
        owner.Run(() => before = NativePages.RefCount(pieces[0].Page));
        releaser.Run(() => pieces.GetRange(0, 5).ForEach(piece => NativePages.Put(piece)));
        if (releaserDies)
        {
            releaser.Dispose();
        }

        owner.Run(() => Assert.Equal(before, NativePages.RefCount(pieces[0].Page)));
        allocator.Trim();
        owner.Run(() => Assert.Equal(before - 5, NativePages.RefCount(pieces[0].Page)));

        owner.Run(() => NativePages.PutBatch(pieces.ToArray().AsSpan(5)));
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
        releaser.Dispose();
    }

    [Fact]
    public void A_piece_released_twice_while_deferred_does_not_keep_its_folio_mapped_and_trim_reports_it()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var trimmer = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 3);
        allocator.Dispose(); // only the three pieces hold the folio now

        releaser.Run(() =>
        {
            NativePages.Put(pieces[0]);
            NativePages.Put(pieces[0]); // the bug: deferred like the first, nothing can tell them apart yet
        });
        NativePages.Put(pieces[1].Address); // by address, not deferred: the count is 1 now, the deferral 2
        NativePages.Put(pieces[2].Address);

        // The life ended at the wrong release, as it would have without deferral; the deferral's drop finds
        // fewer references than it holds, drops those it finds, and says so.
        var error = Assert.Throws<InvalidOperationException>(() => trimmer.Trim());
        Assert.Contains("references", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>Allocates <paramref name="count"/> pieces of 64 B on <paramref name="thread"/>, from its slice.</summary>
    private static List<BioVec> AllocOn(DedicatedThread thread, ZcopyAllocator allocator, int count)
    {
        var pieces = new List<BioVec>();
        thread.Run(() =>
        {
            for (int i = 0; i < count; i++)
            {
                pieces.Add(allocator.Alloc(64));
            }
        });
        return pieces;
    }

    [Fact]
    public void Releases_on_folios_of_an_allocator_without_the_thread_cache_are_not_deferred()
    {
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false });
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        BioVec piece = default;
        BioVec kept = default;
        int before = 0;
        owner.Run(() =>
        {
            piece = allocator.Alloc(64);
            kept = allocator.Alloc(64);
            before = NativePages.RefCount(piece.Page);
        });
        releaser.Run(() => NativePages.Put(piece));
        owner.Run(() => Assert.Equal(before - 1, NativePages.RefCount(piece.Page)));
        NativePages.Put(kept);
    }
}
