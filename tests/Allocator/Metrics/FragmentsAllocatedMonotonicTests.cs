using System;
using System.Diagnostics;
using System.Threading;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Metrics;

/// <summary>
/// nativezcopy.fragments.allocated is an ObservableCounter, so every reading must be at least
/// the one before. <see cref="ZcopyAllocator.GetStatistics"/> sums the arenas' counts, then the pieces cut
/// from each thread's slice, then the pieces of slices given back; a thread moving its slice's count from
/// one of those places to another between the reads is counted in neither or in both.
/// </summary>
public sealed class FragmentsAllocatedMonotonicTests
{
    [Fact]
    public void Fragments_allocated_never_goes_backwards_while_a_thread_cuts_slices()
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions());
        Assert.True(allocator.ThreadCache);
        using var stop = new CancellationTokenSource();
        var cutter = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                NativePages.Put(allocator.Alloc(64));
            }
        });
        cutter.Start();

        long previous = 0;
        long reads = 0;
        string? backwards = null;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(3) && backwards is null)
        {
            long now = allocator.GetStatistics().FragmentsAllocated;
            if (now < previous)
            {
                backwards = $"read {now} after {previous} (read {reads})";
            }

            previous = now;
            reads++;
        }

        stop.Cancel();
        cutter.Join();
        allocator.Dispose();
        Assert.True(backwards is null, backwards);
    }
}
