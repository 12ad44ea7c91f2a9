using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.ThreadCache;

/// <summary>
/// An allocator's statistics count the pieces cut from thread slices that are its own, and no other
/// allocator's, while their owners move between allocators.
/// </summary>
public sealed class ThreadSliceStatisticsTests
{
    [Fact]
    public async Task Statistics_never_count_a_slice_its_owner_moved_to_another_allocator_while_they_were_read()
    {
        // GetStatistics read a slice's cut count and then its allocator, so an owner that gave up A's slice for
        // B's between the two reads had A's count added to B's (a concurrency audit: B reported 226-893 more
        // pieces than it had handed out, within 0.6-5.6 s). A race test: within its 3 s it caught the old code
        // in 2 of 3 runs (fails 3 of 3 within 10 s), and never fails the new one.
        var source = new FaultInjectingPageSource();
        using var a = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536, Alignment = 16 }, source, processors: 1);
        using var b = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 8192, Alignment = 1024 }, source, processors: 1);
        TimeSpan budget = TimeSpan.FromSeconds(3);
        var clock = Stopwatch.StartNew();
        long fromB = 0;          // B's pieces asked for so far, counted before each is cut
        long worst = long.MinValue;
        const int Slack = 8;      // a slice of B (8 pieces of 1 KiB) may be counted twice, as GetStatistics says

        Task owner = Task.Factory.StartNew(
            () =>
            {
                while (clock.Elapsed < budget && Volatile.Read(ref worst) <= Slack)
                {
                    for (int i = 0; i < 4000; i++)
                    {
                        NativePages.Put(a.Alloc(16)); // many pieces cut from A's slice
                    }

                    for (int i = 0; i < 400; i++)
                    {
                        Interlocked.Increment(ref fromB);
                        NativePages.Put(b.Alloc(16)); // the slice changes to B's, a few pieces a slice
                    }
                }
            },
            TaskCreationOptions.LongRunning);
        Task[] readers = new Task[3];
        for (int r = 0; r < readers.Length; r++)
        {
            readers[r] = Task.Factory.StartNew(
                () =>
                {
                    while (!owner.IsCompleted)
                    {
                        long reported = b.GetStatistics().FragmentsAllocated;
                        long over = reported - Volatile.Read(ref fromB);
                        long seen = Volatile.Read(ref worst);
                        while (over > seen && Interlocked.CompareExchange(ref worst, over, seen) != seen)
                        {
                            seen = Volatile.Read(ref worst);
                        }
                    }
                },
                TaskCreationOptions.LongRunning);
        }

        await owner;
        await Task.WhenAll(readers);
        Assert.True(worst <= Slack, $"B's statistics counted {worst} pieces more than B had been asked for (at most {Slack} allowed)");
    }
}
