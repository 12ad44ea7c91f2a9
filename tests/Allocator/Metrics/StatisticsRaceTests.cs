using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using NativeZcopy.Native;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Metrics;

/// <summary>
/// <see cref="ZcopyAllocator.GetStatistics"/> (and so the observable instruments
/// nativezcopy.folios.live and nativezcopy.memory.mapped) reads the folios-mapped counter before the
/// folios-unmapped one. A folio mapped and unmapped between the two reads is counted as unmapped but not
/// as mapped, so the live count reads below the folios that are provably mapped (negative when none are).
/// </summary>
public sealed class StatisticsRaceTests
{
    [Fact]
    public void Live_folios_never_read_below_the_folios_provably_mapped_while_others_churn()
    {
        var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, ThreadCache = false, RetainedFoliosPerArena = 0 }, PageSource.Os, processors: 1);

        // Three folios held by a piece each: live is at least 3 (plus the arena's current folio) throughout.
        var held = new List<BioVec>();
        for (int i = 0; i < 3; i++)
        {
            held.Add(allocator.Alloc(2048));
            NativePages.Put(allocator.Alloc(2048));
        }

        using var stop = new CancellationTokenSource();
        var churn = new Thread(() =>
        {
            // Each round fills a folio and keeps one piece of it until the next round: every round maps one
            // folio and unmaps the one before.
            BioVec kept = default;
            while (!stop.IsCancellationRequested)
            {
                BioVec a = allocator.Alloc(2048);
                NativePages.Put(allocator.Alloc(2048));
                if (!kept.IsEmpty)
                {
                    NativePages.Put(kept);
                }

                kept = a;
                allocator.Trim();
            }

            NativePages.Put(kept);
        });
        churn.Start();

        long lowest = long.MaxValue;
        long reads = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(3) && lowest >= held.Count)
        {
            lowest = Math.Min(lowest, allocator.GetStatistics().LiveFolios);
            reads++;
        }

        stop.Cancel();
        churn.Join();
        foreach (BioVec piece in held)
        {
            NativePages.Put(piece);
        }

        long unmapped = allocator.GetStatistics().FoliosUnmapped;
        allocator.Dispose();
        Assert.True(unmapped > 1000, $"churn unmapped only {unmapped} folios; reads {reads}");
        Assert.True(lowest >= held.Count, $"LiveFolios read {lowest} with {held.Count} folios held (after {reads} reads in {clock.Elapsed.TotalSeconds:F1} s)");
    }
}
