using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Diagnostics;
using NativeZcopy.Native;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Diagnostics;

/// <summary>
/// <see cref="FragmentTracker"/>'s races with the rest of the allocator, each found by the diagnostics hunt:
/// a tracked Get against the final Put, a piece recorded while Dispose runs, and what keeps an allocator alive.
/// </summary>
public sealed class FragmentTrackerTests
{
    [Fact]
    public void A_get_racing_the_final_put_leaves_the_folios_next_life_tracked()
    {
        // A Get of a piece whose last Put races it (a use after release, which tracking refuses). The callback
        // stands for the other threads: between the tracker's count and the page's, the owner's Puts bring every
        // piece back, the folio is reissued in place and a new piece q cut; then the Get's page add is refused.
        // When the tracker counted the Get before the page did, the refused Get's undo dropped a record of the
        // new life: q vanished from the tracker and its one Put was refused as a double release.
        var options = new ZcopyAllocatorOptions { FolioSize = 4096, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan };
        using var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        BioVec first = allocator.Alloc(2048);
        BioVec second = allocator.Alloc(2048); // the folio is full
        long entry = PageSideTable.Find(second.Address);

        BioVec q = default;
        Assert.Throws<InvalidOperationException>(() => FragmentTracker.Get(entry, second.Address, (e, address) =>
        {
            NativePages.Put(first);
            NativePages.Put(second);
            q = allocator.Alloc(2048);
            NativePages.AddRefForTests(e, address);
        }));

        Assert.Equal(first.Page, q.Page); // the same folio, a new life
        Assert.Equal(q, Assert.Single(allocator.GetOutstandingFragments()).Fragment);
        NativePages.Put(q); // q was never released: its one Put is accepted
        Assert.Empty(allocator.GetOutstandingFragments());
    }

    [Fact]
    public void A_piece_recorded_while_dispose_runs_is_reported_as_outstanding_at_dispose()
    {
        // A piece is recorded after the arena lock is dropped and a stack is walked: when Dispose ran on another
        // thread in between, its final check had passed, and the piece was listed but never reported.
        var options = new ZcopyAllocatorOptions { FolioSize = 4096, TrackFragments = true, LeakReportAge = TimeSpan.FromSeconds(2) };
        var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        var reports = new List<BioVec>();
        allocator.FragmentLeaked += (_, e) =>
        {
            lock (reports)
            {
                reports.Add(e.Fragment.Fragment);
            }
        };
        NativePages.Put(allocator.Alloc(64)); // a current folio, so the next piece is cut without a map
        allocator.Owner.Tracker!.BeforeRecordForTests = _ =>
        {
            allocator.Owner.Tracker!.BeforeRecordForTests = null;
            allocator.Dispose(); // "another thread"
        };

        BioVec piece = allocator.Alloc(64);
        try
        {
            // Reported from the thread pool, as the timer's checks are, so that the Alloc cannot fail after its
            // record was made (a review of the first fix, which reported on the allocating thread).
            Assert.True(SpinWait.SpinUntil(() => { lock (reports) { return reports.Count > 0; } }, ThreadPoolWait.Budget));
            lock (reports)
            {
                Assert.Equal(piece, Assert.Single(reports));
            }

            Assert.Equal(1, allocator.GetStatistics().FragmentsLeaked);
        }
        finally
        {
            NativePages.Put(piece);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_allocator_dropped_without_dispose_is_collected_with_or_without_tracking(bool tracking)
    {
        // The side table keeps the arena's folio, the folio's owner its tracker, and the tracker's report
        // target used to be the allocator itself: a tracking allocator dropped without Dispose lived for good,
        // with its timer and its metrics registration.
        Collections.CollectUntilGone(AllocateOneAndDrop(tracking), $"tracking {tracking}: the allocator dropped without Dispose");
    }

    [Fact]
    public void A_dispose_an_applications_finalizer_calls_still_reports()
    {
        // The tracker holds its allocator weakly; a short weak reference is cleared before finalizers run, so a
        // Dispose called from a finalizer lost every report while FragmentsLeaked still counted them (a review).
        var reports = new System.Collections.Concurrent.ConcurrentQueue<BioVec>();
        BioVec leaked = DropHolderOfATrackingAllocator(reports);
        try
        {
            // Whichever finalizer runs first reports: the holder's Dispose at once, or the allocator's own from the
            // thread pool, which a busy pool may reach only after a few collections (1 failure in 6 full runs
            // when this waited for ten collections alone).
            bool reportedAtAll = SpinWait.SpinUntil(
                () =>
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    return !reports.IsEmpty;
                },
                ThreadPoolWait.Budget);

            Assert.True(reportedAtAll, "no report of the outstanding fragment");
            Assert.True(reports.TryDequeue(out BioVec reported));
            Assert.Equal(leaked, reported);
        }
        finally
        {
            NativePages.Put(leaked);
        }
    }

    [Fact]
    public void The_leak_check_stops_once_its_allocator_was_collected()
    {
        // The side table keeps a dropped allocator's folios and so its tracker: its timer walked records every
        // second, for nobody, for the life of the process (a review).
        (WeakReference allocator, FragmentTracker tracker) = DropTrackingAllocator();
        Collections.CollectUntilGone(allocator, "the allocator dropped without Dispose");

        // The allocator's finalizer disposes the tracker; were it to miss, the tracker's reference tracks
        // resurrection, so it lets go a collection or two later, and a tick after that the check stops.
        bool stopped = SpinWait.SpinUntil(
            () =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                return tracker.TimerStopped;
            },
            ThreadPoolWait.Budget);
        Assert.True(stopped, "the leak check still runs");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static BioVec DropHolderOfATrackingAllocator(System.Collections.Concurrent.ConcurrentQueue<BioVec> reports)
    {
        var options = new ZcopyAllocatorOptions { FolioSize = 4096, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan };
        var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        allocator.FragmentLeaked += (_, e) => reports.Enqueue(e.Fragment.Fragment);
        BioVec leaked = allocator.Alloc(64);
        _ = new DisposingHolder(allocator);
        return leaked;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference Allocator, FragmentTracker Tracker) DropTrackingAllocator()
    {
        var options = new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false, TrackFragments = true, LeakReportAge = TimeSpan.FromSeconds(2) };
        var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        NativePages.Put(allocator.Alloc(64));
        return (new WeakReference(allocator), allocator.Owner.Tracker!);
    }

    /// <summary>An application object that disposes its allocator from its finalizer.</summary>
    private sealed class DisposingHolder(ZcopyAllocator allocator)
    {
        ~DisposingHolder() => allocator.Dispose();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AllocateOneAndDrop(bool tracking)
    {
        var options = new ZcopyAllocatorOptions
        {
            FolioSize = 16384, ThreadCache = false, TrackFragments = tracking, LeakReportAge = TimeSpan.FromMinutes(1),
        };
        var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        NativePages.Put(allocator.Alloc(64));
        return new WeakReference(allocator);
    }
}
