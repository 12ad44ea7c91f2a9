using System;
using System.Collections.Generic;
using System.Threading;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace NativeZcopy.Tests.Allocator;

/// <summary>
/// Faults from the page source at every point of a run: the caller gets the documented exception,
/// nothing leaks (no ref, no mapping, no table entry), and the allocator keeps working afterwards.
/// </summary>
[Collection(ProcMapsReaders.Name)]
public sealed class FaultInjectionTests(ITestOutputHelper output)
{
    /// <summary>Operations in one run of the workload.</summary>
    private const int Steps = 250;

    [Fact]
    public void Failing_the_kth_map_for_every_k_over_a_run_leaks_nothing_and_the_allocator_keeps_working()
    {
        // Tracking turns the thread cache off, so the two modes may map a different number of folios.
        int cleanUntracked = RunWorkloadOnFreshThread(failMap: 0, track: false).MapCalls;
        int cleanTracked = RunWorkloadOnFreshThread(failMap: 0, track: true).MapCalls;
        Assert.True(Math.Min(cleanUntracked, cleanTracked) > 20, $"the workload should map often, not {cleanUntracked} and {cleanTracked} times");
        int most = Math.Max(cleanUntracked, cleanTracked);
        for (int k = 1; k <= most + 1; k++)
        {
            bool track = k % 2 == 0;
            (int failures, _) = RunWorkloadOnFreshThread(failMap: k, track);
            Assert.Equal(k <= (track ? cleanTracked : cleanUntracked) ? 1 : 0, failures);
        }

        output.WriteLine($"ran the {Steps}-step workload {most + 3} times, failing map 1..{most + 1} of {cleanUntracked} (untracked) and {cleanTracked} (tracked)");
    }

    [Fact]
    public void A_refused_folio_unmap_throws_from_the_last_put_keeps_the_folio_and_gives_it_back_on_retry()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096 }, source, processors: 1);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 4 * 5; i++)
        {
            pieces.Add(allocator.Alloc(1024));                // five folios of four pieces: three let go to
        }                                                     // their pieces, one parked, one current

        source.FailUnmaps = true;
        int refused = 0;
        foreach (BioVec piece in pieces)
        {
            try
            {
                NativePages.Put(piece);
            }
            catch (InvalidOperationException error)
            {
                Assert.Contains($"0x{piece.Page:X}", error.Message, StringComparison.Ordinal);
                Assert.Contains("ENOMEM", error.Message, StringComparison.Ordinal);
                refused++;
            }
        }

        Assert.Equal(3, refused);                             // the last Put of each folio let go
        Assert.Equal(4, allocator.GetStatistics().LiveFolios - 1); // 3 pending unmaps and the parked folio
        SideTableChecker.AssertConsistent();                  // dead, pending runs are still described
        foreach (BioVec piece in pieces.GetRange(0, 12))
        {
            Assert.Throws<InvalidOperationException>(() => NativePages.Put(piece)); // their folios are dead
        }

        // The allocator keeps working while the OS refuses, and Dispose does not throw for it.
        BioVec more = allocator.MemDup([1, 2, 3, 4]);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, more.AsSpan().ToArray());
        var later = new List<BioVec> { more };
        for (int i = 0; i < 8; i++)
        {
            later.Add(allocator.Alloc(2000));                 // maps (and retries, in vain) as it goes
        }

        int refusedLater = 0;
        foreach (BioVec piece in later)
        {
            try
            {
                NativePages.Put(piece);
            }
            catch (InvalidOperationException)
            {
                refusedLater++;                               // a retired folio's last Put, still refused
            }
        }

        Assert.True(refusedLater > 0, "the folios retired among them must have refused their unmap");

        allocator.Dispose();
        Assert.True(source.BytesMapped > 0);

        // Once the OS agrees, a further Dispose gives everything back.
        source.FailUnmaps = false;
        allocator.Dispose();
        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(stats.FoliosMapped, stats.FoliosUnmapped);
        SideTableChecker.AssertConsistent();
    }

    [Fact]
    public void A_refused_unmap_is_retried_by_the_next_map_of_the_same_owner()
    {
        var source = new FaultInjectingPageSource();
        var owner = new PageRunOwner(source);
        BioVec first = NativePages.Alloc(100, owner);
        source.FailUnmaps = true;
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(first));
        Assert.Equal(1, owner.PendingUnmaps);

        source.FailUnmaps = false;
        BioVec second = NativePages.Alloc(100, owner);        // retries first, then maps
        Assert.Equal(0, owner.PendingUnmaps);
        Assert.Equal(4096, source.BytesMapped);
        NativePages.Put(second);
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>
    /// <see cref="RunWorkload"/> on a thread of its own: with no slice and no deferred releases at the start,
    /// every run maps alike. On the test's thread, what earlier tests left there (a slice, deferred releases)
    /// made the first run map fewer folios than the runs after it once slices grew to a whole folio, so the
    /// run failing the map after the first run's last was still refused one.
    /// </summary>
    private static (int Failures, int MapCalls) RunWorkloadOnFreshThread(int failMap, bool track)
    {
        using var thread = new DedicatedThread();
        (int Failures, int MapCalls) result = default;
        thread.Run(() => result = RunWorkload(failMap, track));
        return result;
    }

    /// <summary>
    /// A fixed pseudo-random mix of Alloc, TryAlloc, MemDup, NativePages.Alloc, Get/Put pairs and Puts
    /// over one allocator (4 KiB folios, so folios turn over every few steps) and one page-run owner on
    /// the same faulty source. Checks every piece's bytes before releasing it and, at the end, that
    /// nothing stays mapped or registered. Returns the OS refusals seen and the map calls made.
    /// </summary>
    private static (int Failures, int MapCalls) RunWorkload(int failMap, bool track)
    {
        var source = new FaultInjectingPageSource { FailMapNumber = failMap };
        var options = new ZcopyAllocatorOptions { FolioSize = 4096, TrackFragments = track, LeakReportAge = Timeout.InfiniteTimeSpan };
        var allocator = new ZcopyAllocator(options, source, processors: 1);
        var owner = new PageRunOwner(source);
        var random = new Random(7);
        var held = new List<(BioVec Piece, byte Fill)>();
        int failures = 0;
        Collections.SettleDroppedAllocators();
        int runsBefore = PageSideTable.LiveRuns;
        for (int step = 0; step < Steps; step++)
        {
            int op = random.Next(6);
            int size = random.Next(1, 2049);
            byte fill = (byte)step;
            try
            {
                BioVec piece;
                switch (op)
                {
                    case 0:
                        piece = allocator.Alloc(size);
                        break;
                    case 1:
                        if (!allocator.TryAlloc(size, out piece))
                        {
                            failures++;
                            continue;
                        }

                        break;
                    case 2:
                        piece = allocator.MemDup(new byte[size]);
                        break;
                    case 3:
                        piece = NativePages.Alloc(size * 3, owner);
                        break;
                    case 4 when held.Count > 0:
                        BioVec shared = held[random.Next(held.Count)].Piece;
                        NativePages.Get(shared.Address + (shared.Length / 2));
                        NativePages.Put(shared);
                        continue;
                    default:
                        if (held.Count > 0)
                        {
                            ReleaseAt(held, random.Next(held.Count));
                        }

                        continue;
                }

                piece.AsSpan().Fill(fill);
                held.Add((piece, fill));
            }
            catch (OutOfMemoryException error)
            {
                Assert.Contains("ENOMEM", error.Message, StringComparison.Ordinal);
                failures++;
            }
        }

        while (held.Count > 0)
        {
            ReleaseAt(held, held.Count - 1);
        }

        Assert.Empty(allocator.GetOutstandingFragments());
        allocator.Dispose();
        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(stats.FoliosMapped, stats.FoliosUnmapped);
        Assert.Equal(runsBefore, PageSideTable.LiveRuns);
        Assert.Equal(0, owner.PendingUnmaps);
        SideTableChecker.AssertConsistent();
        return (failures, (int)source.MapCalls);
    }

    private static void ReleaseAt(List<(BioVec Piece, byte Fill)> held, int index)
    {
        (BioVec piece, byte fill) = held[index];
        Assert.True(piece.AsSpan().IndexOfAnyExcept(fill) < 0, $"{piece} lost its bytes");
        held.RemoveAt(index);
        NativePages.Put(piece);
    }
}
