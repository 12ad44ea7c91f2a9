using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using NativeZcopy.Native;
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

    [Fact]
    public void A_collected_allocators_finalizer_leaves_other_threads_deferred_releases_alone()
    {
        // The finalizer does what Dispose does except reclaim slices: no slice holds an unreachable allocator,
        // and a reclaim from the finalizer thread would drop every thread's deferred releases at any moment.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 10);
        int before = 0;
        owner.Run(() => before = NativePages.RefCount(pieces[0].Page));
        releaser.Run(() => pieces.ForEach(piece => NativePages.Put(piece)));

        Collections.CollectUntilGone(DropUsedAllocator(), "an allocator dropped without Dispose");

        owner.Run(() => Assert.Equal(before, NativePages.RefCount(pieces[0].Page)));     // still deferred
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference DropUsedAllocator()
    {
        // Used from the arena only: a piece cut from a slice would leave the thread's slice holding it.
        var dropped = new ZcopyAllocator(SmallFolios, PageSource.Os, processors: 1);
        NativePages.Put(dropped.Alloc(dropped.MaxFragmentSize));
        Assert.True(dropped.ThreadCache);
        return new WeakReference(dropped);
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
        List<BioVec> fillers = LeaveOnlyPiecesHolding(allocator, pieces[0].Page);
        nint folio = pieces[0].Page;
        releaser.Run(() => Release(pieces.GetRange(0, 9), batch));
        owner.Run(() => Assert.Equal(10, NativePages.RefCount(folio))); // deferred by the releaser
        Assert.NotEqual(0, source.BytesMapped);

        long unmaps = source.Unmaps;
        releaser.Run(() => NativePages.Put(pieces[9]));
        Assert.Equal(unmaps + 1, source.Unmaps); // no Trim, no further release: the final one unmapped it
        Assert.Equal(0, NativePages.RefCount(folio));
        releaser.Run(() => Assert.Throws<InvalidOperationException>(() => NativePages.Put(pieces[0])));
        ReleaseAndDispose(fillers, allocator, source);
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
        List<BioVec> fillers = LeaveOnlyPiecesHolding(allocator, pieces[0].Page); // a count of 10
        nint folio = pieces[0].Page;

        releaser.Run(() => pieces.GetRange(0, 5).ForEach(piece => NativePages.Put(piece))); // read 10, hold 5
        owner.Run(() => NativePages.Get(pieces[9])); // 11 now
        releaser.Run(() => pieces.GetRange(5, 5).ForEach(piece => NativePages.Put(piece))); // hold 10 of 11
        owner.Run(() => Assert.Equal(11, NativePages.RefCount(folio)));
        Assert.NotEqual(0, source.BytesMapped);

        long unmaps = source.Unmaps;
        releaser.Run(() => NativePages.Put(pieces[9])); // the reference Get took: the final one
        Assert.Equal(unmaps + 1, source.Unmaps);
        ReleaseAndDispose(fillers, allocator, source);
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
        List<BioVec> fillers = LeaveOnlyPiecesHolding(allocator, pieces[0].Page); // a count of 3
        long unmaps = source.Unmaps;

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
        Assert.Equal(unmaps + 1, source.Unmaps);
        ReleaseAndDispose(fillers, allocator, source);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Releases_after_the_allocators_dispose_are_not_deferred_so_the_last_one_unmaps(bool batch)
    {
        // Two threads releasing the last pieces of a disposed allocator's folio: had each deferred its half, each
        // deferral would see the other's references in the count, neither would hold every one, and the folio
        // would stay mapped until both threads released something else (nothing reclaims after Dispose).
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var first = new DedicatedThread();
        using var second = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 10);
        allocator.Dispose(); // the arena's and the slice's references go: only the pieces hold the folio

        first.Run(() => Release(pieces.GetRange(0, 5), batch));
        owner.Run(() => Assert.Equal(5, NativePages.RefCount(pieces[0].Page))); // dropped at once, not deferred
        second.Run(() => Release(pieces.GetRange(5, 5), batch));
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>
    /// Once another holder lets go after a thread deferred its releases, those deferred references are all a
    /// folio has left: for that thread every piece of it is released, and NativePages.IsLive says so, as
    /// RefCount does, so that ZcopyMessage.Add refuses a piece the thread itself released.
    /// </summary>
    [Fact]
    public void IsLive_on_the_releasing_thread_is_false_once_its_deferred_releases_are_all_the_folio_has_left()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        var other = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        using var third = new DedicatedThread();
        List<BioVec> pieces = AllocOn(owner, allocator, 10);
        List<BioVec> fillers = LeaveOnlyPiecesHolding(allocator, pieces[0].Page);
        BioVec elsewhere = default;
        owner.Run(() => elsewhere = other.Alloc(64));

        releaser.Run(() => Release(pieces.GetRange(0, 9), batch: false));        // deferred: the count still says 10
        releaser.Run(() => Assert.True(NativePages.IsLive(pieces[0])));         // the tenth holder may be anyone's
        third.Run(() =>
        {
            NativePages.Put(pieces[9]);                                          // deferred by the third thread...
            NativePages.Put(elsewhere);                                          // ...and dropped: its run ended
        });

        releaser.Run(() =>
        {
            Assert.Equal(0, NativePages.RefCount(pieces[0].Page));
            Assert.False(NativePages.IsLive(pieces[0]));
            Assert.False(NativePages.IsLive(pieces[8]));
        });
        owner.Run(() => Assert.True(NativePages.IsLive(pieces[0])));            // the releaser has not dropped them yet

        allocator.Trim();                                                        // drops the releaser's deferral: unmapped
        Assert.False(NativePages.IsLive(pieces[0]));
        other.Dispose();
        ReleaseAndDispose(fillers, allocator, source);
    }

    /// <summary>Releases <paramref name="run"/> with one PutBatch, or one Put at a time.</summary>
    private static void Release(List<BioVec> run, bool batch)
    {
        if (batch)
        {
            NativePages.PutBatch(run.ToArray());
        }
        else
        {
            run.ForEach(piece => NativePages.Put(piece));
        }
    }

    /// <summary>Releases the <paramref name="fillers"/> left by <see cref="LeaveOnlyPiecesHolding"/>, disposes, and checks nothing stays mapped.</summary>
    private static void ReleaseAndDispose(List<BioVec> fillers, ZcopyAllocator allocator, FaultInjectingPageSource source)
    {
        NativePages.PutBatch(fillers.ToArray());
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>
    /// Leaves the live allocator's folio <paramref name="folio"/> held by the pieces cut from it alone: Trim takes
    /// the threads' slices back, pieces of half a folio (cut by the arena, not a slice) fill it until the arena
    /// moves on and parks it, and Trim gives the arena's share on the parked folio back. Returns the fillers of
    /// the next folio, for the caller to release; those of <paramref name="folio"/> are released here (at
    /// once: pieces larger than a deferral takes).
    /// </summary>
    private static List<BioVec> LeaveOnlyPiecesHolding(ZcopyAllocator allocator, nint folio)
    {
        allocator.Trim();
        var onFolio = new List<BioVec>();
        var fillers = new List<BioVec>();
        while (true)
        {
            BioVec filler = allocator.Alloc(allocator.MaxFragmentSize);
            if (filler.Page != folio)
            {
                fillers.Add(filler);
                break;
            }

            onFolio.Add(filler);
        }

        allocator.Trim();
        NativePages.PutBatch(onFolio.ToArray());
        return fillers;
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

    [Fact]
    public void Releases_of_pieces_up_to_2_KiB_are_deferred_and_of_larger_ones_dropped_at_once()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var owner = new DedicatedThread();
        using var releaser = new DedicatedThread();
        BioVec small = default;
        BioVec large = default;
        BioVec kept = default;
        int before = 0;
        owner.Run(() =>
        {
            small = allocator.Alloc(2048);
            large = allocator.Alloc(2049);
            kept = allocator.Alloc(64);
            before = NativePages.RefCount(small.Page);
        });
        Assert.Equal(small.Page, large.Page);

        releaser.Run(() => NativePages.Put(large)); // 2049 bytes: dropped at once
        owner.Run(() => Assert.Equal(before - 1, NativePages.RefCount(small.Page)));
        releaser.Run(() => NativePages.Put(small)); // 2048 bytes: deferred, the count has not moved
        owner.Run(() => Assert.Equal(before - 1, NativePages.RefCount(small.Page)));

        owner.Run(() => NativePages.Put(kept));
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }
}
