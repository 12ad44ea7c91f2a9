using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Native;
using NativeZcopy.ThreadCache;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

/// <summary>
/// An allocator dropped without Dispose: its finalizer gives back what Dispose would. A new user's program
/// that made an allocator per request and never disposed one kept a folio mapped per allocator for the life
/// of the process (LiveRuns 2 -> 102 for 100 allocators, all but one collected).
/// </summary>
public sealed class ZcopyAllocatorFinalizerTests
{
    private const int FolioSize = 16384;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_allocator_dropped_without_dispose_unmaps_its_folios_when_collected(bool threadCache)
    {
        var source = new FaultInjectingPageSource();
        Collections.CollectUntilGone(UseAndDrop(source, threadCache), "the allocator dropped without Dispose");

        Assert.True(source.Maps >= 3, $"the drill mapped {source.Maps} folios");  // arena, retained, cache's
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(source.Maps, source.Unmaps);
    }

    [Fact]
    public void A_piece_held_past_its_allocators_collection_keeps_its_folio_until_its_put()
    {
        var source = new FaultInjectingPageSource();
        (WeakReference allocator, BioVec piece) = AllocAndDrop(source);
        Collections.CollectUntilGone(allocator, "the allocator dropped without Dispose");

        Assert.Equal(FolioSize, source.BytesMapped);
        Assert.All(piece.AsSpan().ToArray(), b => Assert.Equal(0x5A, b));
        Assert.True(NativePages.IsLive(piece));

        NativePages.Put(piece);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_tracking_allocator_dropped_without_dispose_reports_what_is_outstanding_when_collected()
    {
        // From the thread pool, not the finalizer thread, where a handler that threw would end the process and
        // a slow one would hold up every finalizer (a review of the first version).
        var reports = new ConcurrentQueue<(BioVec Fragment, bool OnThreadPool)>();
        (WeakReference allocator, BioVec leaked) = TrackAndDrop(reports);
        try
        {
            Collections.CollectUntilGone(allocator, "the tracking allocator dropped without Dispose");

            // The report is a thread-pool work item the finalizer queued: waited for as long as the pool may be
            // held up by tests beside this one (10 s failed once, in a run whose pool stalled for 10 s).
            SpinWait.SpinUntil(() => !reports.IsEmpty, ThreadPoolWait.Budget);

            Assert.True(reports.TryDequeue(out var reported), "no report of the outstanding fragment");
            Assert.Equal(leaked, reported.Fragment);
            Assert.True(reported.OnThreadPool, "reported on the finalizer thread");
        }
        finally
        {
            NativePages.Put(leaked);
        }
    }

    [Fact]
    public void A_constructor_that_threw_leaves_the_finalizer_nothing_to_trip_on()
    {
        // The object a throwing constructor leaves is still finalized; a finalizer that threw would end the
        // process (and this run) here.
        for (int i = 0; i < 10; i++)
        {
            Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 3000 + i }));
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    /// <summary>
    /// Leaves everything Dispose gives back held: the arena's folio, a retained folio, a local cache's slice
    /// and, with the thread cache, the slice and deferred releases of this thread (whose slice then moves to
    /// another allocator, as a thread does that serves the next request with a new one).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference UseAndDrop(FaultInjectingPageSource source, bool threadCache)
    {
        var options = new ZcopyAllocatorOptions { FolioSize = FolioSize, RetainedFoliosPerArena = 2, ThreadCache = threadCache };
        var allocator = new ZcopyAllocator(options, source, processors: 1);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 3 * FolioSize / 1024; i++)
        {
            pieces.Add(allocator.Alloc(1000));
        }

        foreach (BioVec piece in pieces)
        {
            NativePages.Put(piece);
        }

        Assert.True(allocator.GetStatistics().FoliosRetained > 0);
        var cache = new ZcopyLocalCache(allocator);
        cache.Put(cache.Alloc(64));

        using (var next = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = FolioSize }, PageSource.Os, processors: 1))
        {
            // A thread holding another allocator's slice takes one of this allocator's only after a few misses,
            // and not while a Trim or Dispose of any allocator, on another test's thread, has revoked every
            // thread's slice: so bounded by time, not by tries. With 1,000 tries, a thread disposing allocators
            // in a loop kept the slice from moving in 25 of 61,210 rounds (a run of the suite failed so once);
            // with the time bound, in none of 45,209.
            for (var spent = Stopwatch.StartNew(); threadCache && ThreadSlice.Current?.Allocator != next && spent.Elapsed < TimeSpan.FromSeconds(20);)
            {
                NativePages.Put(next.Alloc(64));
            }

            Assert.False(threadCache && ThreadSlice.Current?.Allocator != next, "the thread's slice still holds the dropped allocator");
        }

        return new WeakReference(allocator);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference Allocator, BioVec Piece) AllocAndDrop(FaultInjectingPageSource source)
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = FolioSize, ThreadCache = false }, source, processors: 1);
        BioVec piece = allocator.Alloc(200);
        piece.AsSpan().Fill(0x5A);
        return (new WeakReference(allocator), piece);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference Allocator, BioVec Leaked) TrackAndDrop(ConcurrentQueue<(BioVec, bool)> reports)
    {
        var options = new ZcopyAllocatorOptions { FolioSize = FolioSize, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan };
        var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        allocator.FragmentLeaked += (_, e) => reports.Enqueue((e.Fragment.Fragment, Thread.CurrentThread.IsThreadPoolThread));
        BioVec leaked = allocator.Alloc(64);
        return (new WeakReference(allocator), leaked);
    }
}
