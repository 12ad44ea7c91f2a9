using System;
using System.Linq;
using System.Runtime.CompilerServices;
using NativeZcopy.Metrics;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Metrics;

/// <summary><see cref="AllocatorRegistry"/>: which series a name joins, and how long it lasts.</summary>
public sealed class AllocatorRegistryTests
{
    [Fact]
    public void A_name_the_application_gives_keeps_its_counts_even_when_an_unnamed_allocator_opened_it()
    {
        // The application named an allocator "allocator-N", the automatic name an unnamed allocator already had:
        // the series, opened unkept by the unnamed one, ended when both were collected, and the name's next
        // allocator counted from zero, so the counter went backwards for the same listener (the diagnostics hunt).
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        (WeakReference unnamed, WeakReference named, string name, long before) = OpenASeriesUnnamedThenJoinItByName(recorder);
        Assert.Equal(3, before);

        Collections.CollectUntilGone(unnamed, "the unnamed allocator");
        Collections.CollectUntilGone(named, "the named allocator");
        Assert.True(AllocatorRegistry.HasSeries(name));

        using var successor = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = name, ThreadCache = false });
        NativePages.Put(successor.Alloc(100));
        Assert.Equal(before + 1, FragmentsAllocated(recorder, name));
    }

    [Fact]
    public void A_folio_an_allocators_finalizer_unmaps_is_counted_in_its_names_series()
    {
        // The registration retires a collected allocator's counts from its own finalizer, and the two are
        // finalized in no fixed order: the allocator's finalizer, which unmaps its folio, ran after the
        // retirement in 2 of 3 runs of a review, and the name's unmapped count stayed 0.
        string name = "finalized-" + Guid.NewGuid().ToString("N");
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        var options = new ZcopyAllocatorOptions { Name = name, ThreadCache = false };
        using var survivor = new ZcopyAllocator(options);
        NativePages.Put(survivor.Alloc(100));                       // the survivor: 1 folio mapped, none unmapped
        Collections.CollectUntilGone(AllocAndDrop(options), "the allocator dropped without Dispose");
        GC.Collect();                                               // a registration that waited for it retires now
        GC.WaitForPendingFinalizers();

        var mine = recorder.Collect().Where(r => r.Allocator == name).ToList();
        Assert.Equal(2, mine.Single(r => r.Instrument.Name == ZcopyMetrics.FoliosMapped).Value);
        Assert.Equal(1, mine.Single(r => r.Instrument.Name == ZcopyMetrics.FoliosUnmapped).Value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AllocAndDrop(ZcopyAllocatorOptions options)
    {
        var allocator = new ZcopyAllocator(options);
        NativePages.Put(allocator.Alloc(100));
        return new WeakReference(allocator);
    }

    private static long FragmentsAllocated(MetricsRecorder recorder, string name) =>
        recorder.Collect().Single(r => r.Allocator == name && r.Instrument.Name == ZcopyMetrics.FragmentsAllocated).Value;

    /// <summary>
    /// Both allocators stay alive to the end of this method, so no other test's collection can end the unnamed
    /// one's series before the named one joins it, or take the named one before the first reading.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (WeakReference Unnamed, WeakReference Named, string Name, long Before) OpenASeriesUnnamedThenJoinItByName(MetricsRecorder recorder)
    {
        var unnamed = new ZcopyAllocator(new ZcopyAllocatorOptions { ThreadCache = false });
        string name;
        lock (AllocatorRegistry.SeriesLock)
        {
            name = AllocatorRegistry.Reported.Single(pair => ReferenceEquals(pair.Key, unnamed)).Value.Series.Name;
        }

        var named = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = name, ThreadCache = false });
        NativePages.PutBatch([named.Alloc(100), named.Alloc(100), named.Alloc(100)]);
        long before = FragmentsAllocated(recorder, name);
        unnamed.Dispose();
        named.Dispose();
        GC.KeepAlive(unnamed);
        GC.KeepAlive(named);
        return (new WeakReference(unnamed), new WeakReference(named), name, before);
    }
}
