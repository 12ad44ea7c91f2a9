using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Diagnostics;

public sealed class FragmentTrackingTests
{
    private static readonly ZcopyAllocatorOptions s_tracking = new() { FolioSize = 16384, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan };

    [Fact]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Outstanding_fragments_are_listed_with_their_allocation_stack_until_released()
    {
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        BioVec first = allocator.Alloc(100);
        BioVec second = allocator.MemDup([1, 2, 3]);

        IReadOnlyList<OutstandingFragment> outstanding = allocator.GetOutstandingFragments();
        Assert.Equal(new[] { first, second }, outstanding.Select(o => o.Fragment).OrderBy(f => f.Address));
        Assert.All(outstanding, o => Assert.Contains(nameof(Outstanding_fragments_are_listed_with_their_allocation_stack_until_released), o.AllocationStackTrace, StringComparison.Ordinal));
        Assert.Contains(nameof(ZcopyAllocator.MemDup), outstanding.Single(o => o.Fragment == second).AllocationStackTrace, StringComparison.Ordinal);
        Assert.Equal(2, allocator.GetStatistics().TrackedFragmentsOutstanding);

        NativePages.Put(first);
        Assert.Equal(second, Assert.Single(allocator.GetOutstandingFragments()).Fragment);
        NativePages.Put(second.Address + 2);
        Assert.Empty(allocator.GetOutstandingFragments());
        Assert.Equal(0, allocator.GetStatistics().TrackedFragmentsOutstanding);
    }

    [Fact]
    public void A_second_put_is_refused_while_the_folio_still_has_other_refs_by_piece_and_by_address()
    {
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        BioVec released = allocator.Alloc(64);
        BioVec neighbour = allocator.Alloc(64);
        NativePages.Put(released);
        int count = NativePages.RefCount(neighbour.Page);

        var byPiece = Assert.Throws<InvalidOperationException>(() => NativePages.Put(released));
        Assert.Contains($"0x{released.Address:X}", byPiece.Message, StringComparison.Ordinal);
        Assert.Contains("already released", byPiece.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(released.Address + 10));
        Assert.Throws<InvalidOperationException>(() => NativePages.Get(released.Address));
        Assert.Throws<InvalidOperationException>(() => NativePages.Get(released));
        Assert.Equal(count, NativePages.RefCount(neighbour.Page));

        NativePages.Put(neighbour);
    }

    [Fact]
    public void Extra_refs_belong_to_the_fragment_holding_the_address_and_each_holder_drops_its_own()
    {
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        BioVec piece = allocator.Alloc(256);
        int count = NativePages.RefCount(piece.Page);

        NativePages.Get(piece.Address + 255);                 // a second holder, by an interior address
        NativePages.Get(piece);                               // a third, by the piece
        Assert.Equal(count + 2, NativePages.RefCount(piece.Page));
        Assert.Equal(3, Assert.Single(allocator.GetOutstandingFragments()).References);

        NativePages.Put(piece.Address + 100);
        NativePages.Put(piece);
        Assert.Equal(1, Assert.Single(allocator.GetOutstandingFragments()).References);
        NativePages.Put(piece.Slice(8, 8));                   // a slice shares the piece's reference
        Assert.Empty(allocator.GetOutstandingFragments());
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(piece));
        Assert.Equal(count - 1, NativePages.RefCount(piece.Page));
    }

    [Fact]
    public void An_address_of_a_tracked_folio_in_no_fragment_is_refused()
    {
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        BioVec piece = allocator.Alloc(100);
        int count = NativePages.RefCount(piece.Page);

        // The tail of the folio that no piece was cut from yet, and the alignment padding after a piece.
        Assert.Throws<InvalidOperationException>(() => NativePages.Get(piece.Page + 8000));
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(piece.Page + 8000));
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(piece.Address + 102));
        Assert.Equal(count, NativePages.RefCount(piece.Page));
        NativePages.Put(piece);
    }

    [Fact]
    public void A_reissued_folio_records_its_new_life_and_refuses_the_old_one()
    {
        var source = new FaultInjectingPageSource();
        using var allocator = new ZcopyAllocator(s_tracking, source, processors: 1);
        BioVec first = allocator.Alloc(8192);
        BioVec second = allocator.Alloc(8192);
        NativePages.Put(first);
        NativePages.Put(second);
        BioVec again = allocator.Alloc(8192);                 // the same folio, its next life
        Assert.Equal(first.Page, again.Page);
        Assert.Equal(1, allocator.GetStatistics().FoliosReusedInPlace);

        Assert.Throws<InvalidOperationException>(() => NativePages.Put(first));
        Assert.Equal(again, Assert.Single(allocator.GetOutstandingFragments()).Fragment);
        NativePages.Put(again);
        Assert.Equal(1, source.MapCalls);
    }

    [Fact]
    public void Dispose_reports_what_is_outstanding_without_throwing_or_freeing_it()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(s_tracking, source, processors: 1);
        var reports = new List<FragmentLeakedEventArgs>();
        allocator.FragmentLeaked += (sender, e) =>
        {
            Assert.Same(allocator, sender);
            reports.Add(e);
        };
        BioVec kept = allocator.MemDup([9, 8, 7]);
        NativePages.Put(allocator.Alloc(10));

        allocator.Dispose();

        FragmentLeakedEventArgs report = Assert.Single(reports);
        Assert.Equal(kept, report.Fragment.Fragment);
        Assert.Contains(nameof(Dispose_reports_what_is_outstanding_without_throwing_or_freeing_it), report.Fragment.AllocationStackTrace, StringComparison.Ordinal);
        Assert.Equal(1, allocator.GetStatistics().FragmentsLeaked);
        Assert.Equal(new byte[] { 9, 8, 7 }, kept.AsSpan().ToArray());
        Assert.Equal(1, NativePages.RefCount(kept.Page));

        NativePages.Put(kept);                                // still released the normal way, once
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(kept));
        Assert.Equal(0, source.BytesMapped);
        Assert.Single(reports);
    }

    [Fact]
    public void Sampling_tracks_one_folio_life_in_n_and_every_piece_of_it()
    {
        var source = new FaultInjectingPageSource();
        var options = new ZcopyAllocatorOptions { FolioSize = 4096, TrackingSampleRate = 4, LeakReportAge = Timeout.InfiniteTimeSpan };
        using var allocator = new ZcopyAllocator(options, source, processors: 1);
        Assert.Equal(4, allocator.TrackingSampleRate);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 8 * 16; i++)
        {
            pieces.Add(allocator.Alloc(1024));                // 2 per 4 KiB folio after alignment: 64 folios... 4 per folio
        }

        int folios = (int)allocator.GetStatistics().FoliosMapped;
        IReadOnlyList<OutstandingFragment> tracked = allocator.GetOutstandingFragments();
        var trackedFolios = tracked.Select(o => o.Fragment.Page).Distinct().ToList();
        Assert.Equal((folios + 3) / 4, trackedFolios.Count);
        Assert.Equal(pieces.Count(p => trackedFolios.Contains(p.Page)), tracked.Count);

        // An untracked folio's double release goes unseen by design; a tracked one's is refused.
        BioVec inTracked = pieces.First(p => trackedFolios.Contains(p.Page));
        NativePages.Put(inTracked);
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(inTracked));
        foreach (BioVec piece in pieces.Where(p => p != inTracked))
        {
            NativePages.Put(piece);
        }

        Assert.Empty(allocator.GetOutstandingFragments());
    }

    [Fact]
    public void A_fragment_outstanding_past_the_leak_age_is_reported_once_by_the_periodic_check_and_counted()
    {
        var options = new ZcopyAllocatorOptions { FolioSize = 16384, TrackingSampleRate = 1, LeakReportAge = TimeSpan.Zero };
        using var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        var reports = new BlockingCollection<FragmentLeakedEventArgs>();
        allocator.FragmentLeaked += (_, e) => reports.Add(e);
        BioVec leaked = allocator.Alloc(32);

        // The check runs every second from a timer; a generous wait keeps a loaded machine from failing it.
        Assert.True(reports.TryTake(out FragmentLeakedEventArgs? report, TimeSpan.FromSeconds(30)), "no leak report within 30 s");
        Assert.Equal(leaked, report!.Fragment.Fragment);
        Assert.Equal(1, allocator.GetStatistics().FragmentsLeaked);

        // Two more ticks of the timer (every second) find it outstanding still, and report nothing again.
        Assert.False(reports.TryTake(out report, TimeSpan.FromSeconds(2.5)), $"reported again: {report?.Fragment}");
        Assert.Equal(0, allocator.CheckForLeaks(TimeSpan.Zero));   // nor does a check by hand

        BioVec young = allocator.Alloc(32);
        Assert.Equal(0, allocator.CheckForLeaks(TimeSpan.FromHours(1)));
        NativePages.Put(leaked);
        NativePages.Put(young);
        Assert.Equal(0, allocator.CheckForLeaks(TimeSpan.Zero));
        Assert.Equal(1, allocator.GetStatistics().FragmentsLeaked);
    }

    [Fact]
    public void A_throwing_leak_handler_still_lets_every_leak_of_the_check_be_reported_then_reaches_the_caller()
    {
        // Each fragment is marked reported before the handlers run, so one skipped after a throw would never
        // be reported at all.
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        BioVec[] pieces = [allocator.Alloc(32), allocator.Alloc(32), allocator.Alloc(32)];
        var reported = new List<BioVec>();
        var heardBySecond = new List<BioVec>();
        allocator.FragmentLeaked += (_, e) =>
        {
            reported.Add(e.Fragment.Fragment);
            if (reported.Count == 1)
            {
                throw new TimeoutException("the log sink is down");
            }
        };
        allocator.FragmentLeaked += (_, e) => heardBySecond.Add(e.Fragment.Fragment);

        var thrown = Assert.Throws<TimeoutException>(() => allocator.CheckForLeaks(TimeSpan.Zero));
        Assert.Equal("the log sink is down", thrown.Message);
        Assert.Equal(pieces.OrderBy(p => p.Address), reported.OrderBy(p => p.Address));
        Assert.Equal(pieces.OrderBy(p => p.Address), heardBySecond.OrderBy(p => p.Address));
        Assert.Equal(3, allocator.GetStatistics().FragmentsLeaked);
        Assert.Equal(0, allocator.CheckForLeaks(TimeSpan.Zero));
        NativePages.PutBatch(pieces);
    }

    [Fact]
    public void A_throwing_leak_handler_reaches_the_caller_of_Dispose_after_everything_was_given_back()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(s_tracking, source, processors: 1);
        BioVec[] pieces = [allocator.Alloc(32), allocator.Alloc(32)];
        int reports = 0;
        allocator.FragmentLeaked += (_, _) =>
        {
            reports++;
            throw new TimeoutException("the log sink is down");
        };

        Assert.Throws<TimeoutException>(allocator.Dispose);
        Assert.Equal(2, reports);
        Assert.Throws<ObjectDisposedException>(() => allocator.Alloc(32));

        // The arena's own reference went back before the reports: the last Put unmaps the folio.
        NativePages.PutBatch(pieces);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void With_tracking_off_nothing_is_recorded()
    {
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, PageSource.Os, processors: 1);
        BioVec piece = allocator.Alloc(10);
        Assert.Equal(0, allocator.TrackingSampleRate);
        Assert.Empty(allocator.GetOutstandingFragments());
        Assert.Equal(0, allocator.CheckForLeaks(TimeSpan.Zero));
        NativePages.Put(piece);
    }

    [Theory]
    [InlineData(true, 2, "TrackingSampleRate 2")]
    [InlineData(false, -1, "TrackingSampleRate -1")]
    public void Bad_tracking_options_are_refused_naming_the_value(bool track, int rate, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = track, TrackingSampleRate = rate }));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        var age = Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true, LeakReportAge = TimeSpan.FromSeconds(-2) }));
        Assert.Contains("LeakReportAge -00:00:02", age.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_zero_length_slice_where_two_tracked_fragments_meet_is_refused_and_both_left_alone()
    {
        // A slice taken at a's end has the address of b, the fragment after it, and is the same value as
        // b.Slice(0, 0): tracking, which finds fragments by address, released b for it, and b's holder then had
        // its own Put refused as a double release (the cross-feature hunt). Where two live fragments meet, such a
        // slice names neither for sure, so every tracked use of it by piece is refused.
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        BioVec a = allocator.Alloc(64);
        BioVec b = allocator.Alloc(64);
        Assert.Equal(a.Offset + 64, b.Offset);
        BioVec end = a.Slice(a.Length, 0);
        Assert.Equal(b.Slice(0, 0), end);

        Assert.Contains("two live tracked fragments meet", Assert.Throws<InvalidOperationException>(() => NativePages.Put(end)).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => NativePages.Get(end));
        Assert.Throws<InvalidOperationException>(() => NativePages.PutBatch([end]));
        using (var message = new NativeZcopy.Net.ZcopyMessage())
        {
            Assert.Throws<InvalidOperationException>(() => message.AddRef(end));
            Assert.Throws<InvalidOperationException>(() => message.Add(end)); // it could never give the reference back
        }

        Assert.Throws<InvalidOperationException>(() => new ZcopyMemoryOwner(end));

        Assert.True(NativePages.IsLive(end)); // its page life is all it can be judged by
        Assert.True(NativePages.IsLive(a));
        Assert.True(NativePages.IsLive(b));
        Assert.Equal(2, allocator.GetOutstandingFragments().Count);
        NativePages.Put(a);
        NativePages.Put(b);
        Assert.Empty(allocator.GetOutstandingFragments());
    }

    [Fact]
    public void A_zero_length_slice_that_only_one_tracked_fragment_can_name_releases_that_fragment()
    {
        // Inside a piece, at its end when padding or nothing live follows, or at its start when nothing live
        // precedes it, a zero-length slice names one fragment, and releases it as without tracking.
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        BioVec padded = allocator.Alloc(5); // aligned to 8: its end lies in its padding
        BioVec whole = allocator.Alloc(64);
        BioVec last = allocator.Alloc(64); // nothing live after it

        NativePages.Get(whole.Slice(32, 0));
        NativePages.Put(whole.Slice(10, 0));
        NativePages.Put(padded.Slice(padded.Length, 0));
        Assert.False(NativePages.IsLive(padded));
        NativePages.Put(last.Slice(last.Length, 0));
        Assert.False(NativePages.IsLive(last));
        Assert.True(NativePages.IsLive(whole));
        NativePages.Put(whole.Slice(0, 0)); // the byte before it is padded's padding: no fragment
        Assert.Empty(allocator.GetOutstandingFragments());
    }

    [Fact]
    public void Without_tracking_a_zero_length_slice_releases_its_pieces_reference()
    {
        // The page's count is all there is: the slice shares its piece's reference, and gives it back.
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false }, PageSource.Os, processors: 1);
        BioVec a = allocator.Alloc(64);
        BioVec b = allocator.Alloc(64);
        int count = NativePages.RefCount(a.Page);
        NativePages.Put(a.Slice(a.Length, 0));
        Assert.Equal(count - 1, NativePages.RefCount(a.Page));
        NativePages.Put(b);
    }
}
