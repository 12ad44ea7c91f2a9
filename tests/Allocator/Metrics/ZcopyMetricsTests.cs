using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;
using System.Runtime.CompilerServices;
using NativeZcopy.Metrics;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Metrics;

/// <summary>
/// The NativeZcopy meter seen through a <see cref="MeterListener"/>. Each test names its own allocator and
/// reads only the measurements tagged with that name, so allocators of tests running alongside do not
/// matter. The tests are in this one class because two of them switch the process to a factory's meter and
/// back: xunit runs a class's tests one after the other.
/// </summary>
public sealed class ZcopyMetricsTests
{
    /// <summary>The thread whose publication the re-entry test's listener answers by allocating; 0 when none.</summary>
    private static volatile int s_publishingThread;

    private static readonly string[] s_instruments =
    [
        ZcopyMetrics.MemoryMapped, ZcopyMetrics.FoliosLive, ZcopyMetrics.FoliosRetained, ZcopyMetrics.FoliosMapped,
        ZcopyMetrics.FoliosUnmapped, ZcopyMetrics.FoliosReused, ZcopyMetrics.FragmentsAllocated,
        ZcopyMetrics.FragmentsLeaked, ZcopyMetrics.FragmentsTracked,
    ];

    [Fact]
    public void Leaked_and_tracked_fragments_are_reported()
    {
        string name = "leaks-" + Guid.NewGuid().ToString("N");
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions
        {
            Name = name,
            TrackFragments = true,
            LeakReportAge = System.Threading.Timeout.InfiniteTimeSpan,
        });
        BioVec kept = allocator.Alloc(100);
        BioVec released = allocator.Alloc(100);
        NativePages.Put(released);

        Dictionary<string, RecordedMeasurement> measured = Single(recorder.Collect(), name);
        Assert.Equal(1, measured[ZcopyMetrics.FragmentsTracked].Value);
        Assert.Equal(0, measured[ZcopyMetrics.FragmentsLeaked].Value);

        Assert.Equal(1, allocator.CheckForLeaks(TimeSpan.Zero));
        measured = Single(recorder.Collect(), name);
        Assert.Equal(1, measured[ZcopyMetrics.FragmentsLeaked].Value);
        Assert.IsType<ObservableCounter<long>>(measured[ZcopyMetrics.FragmentsLeaked].Instrument);

        NativePages.Put(kept);
        allocator.Dispose();
        measured = Single(recorder.Collect(), name);
        Assert.Equal(0, measured[ZcopyMetrics.FragmentsTracked].Value);
        Assert.Equal(1, measured[ZcopyMetrics.FragmentsLeaked].Value);
    }

    [Fact]
    public void The_static_meter_reports_each_allocator_when_collected()
    {
        string name = "metrics-" + Guid.NewGuid().ToString("N");
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        // Pieces enough to fill several folios, which are retained for reuse once all their pieces are back.
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = name, RetainedFoliosPerArena = 8 });
        using var pool = new ZcopyMemoryPool(allocator);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 100; i++)
        {
            pieces.Add(allocator.Alloc(4000));
        }

        IMemoryOwner<byte> run = pool.Rent(100_000);
        int runBytes = run.Memory.Length;

        Dictionary<string, RecordedMeasurement> measured = Single(recorder.Collect(), name);
        ZcopyStatistics statistics = allocator.GetStatistics();
        Assert.Equal(statistics.BytesMapped + runBytes, measured[ZcopyMetrics.MemoryMapped].Value);
        Assert.Equal(statistics.LiveFolios, measured[ZcopyMetrics.FoliosLive].Value);
        Assert.Equal(statistics.FoliosRetained, measured[ZcopyMetrics.FoliosRetained].Value);
        Assert.Equal(statistics.FoliosMapped, measured[ZcopyMetrics.FoliosMapped].Value);
        Assert.Equal(0, measured[ZcopyMetrics.FoliosUnmapped].Value);
        Assert.Equal(statistics.FoliosReusedInPlace, measured[ZcopyMetrics.FoliosReused].Value);
        Assert.Equal(100, measured[ZcopyMetrics.FragmentsAllocated].Value);
        Assert.True(measured[ZcopyMetrics.FoliosLive].Value > 0);

        Instrument mapped = measured[ZcopyMetrics.MemoryMapped].Instrument;
        Assert.IsType<ObservableUpDownCounter<long>>(mapped);
        Assert.Equal("By", mapped.Unit);
        Assert.IsType<ObservableCounter<long>>(measured[ZcopyMetrics.FragmentsAllocated].Instrument);
        Assert.IsType<ObservableUpDownCounter<long>>(measured[ZcopyMetrics.FoliosLive].Instrument);

        foreach (BioVec piece in pieces)
        {
            NativePages.Put(piece);
        }

        run.Dispose();
        measured = Single(recorder.Collect(), name);
        statistics = allocator.GetStatistics();
        Assert.Equal(statistics.FoliosRetained, measured[ZcopyMetrics.FoliosRetained].Value);
        Assert.Equal(statistics.LiveFolios, measured[ZcopyMetrics.FoliosLive].Value);
        Assert.True(statistics.FoliosRetained > 0, "no folio was retained");

        allocator.Dispose();
        measured = Single(recorder.Collect(), name);
        Assert.Equal(0, measured[ZcopyMetrics.MemoryMapped].Value);
        Assert.Equal(0, measured[ZcopyMetrics.FoliosLive].Value);
        Assert.Equal(0, measured[ZcopyMetrics.FoliosRetained].Value);
        Assert.Equal(measured[ZcopyMetrics.FoliosMapped].Value, measured[ZcopyMetrics.FoliosUnmapped].Value);
        Assert.Equal(100, measured[ZcopyMetrics.FragmentsAllocated].Value);
    }

    [Fact]
    public void Allocators_sharing_a_name_are_reported_as_one_series_summing_them()
    {
        string name = "twins-" + Guid.NewGuid().ToString("N");
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        var options = new ZcopyAllocatorOptions { Name = name };
        using var first = new ZcopyAllocator(options);
        using var second = new ZcopyAllocator(options);
        BioVec one = first.Alloc(100);
        BioVec two = second.Alloc(100);
        BioVec three = second.Alloc(100);

        Dictionary<string, RecordedMeasurement> measured = Single(recorder.Collect(), name); // one of each instrument
        ZcopyStatistics a = first.GetStatistics();
        ZcopyStatistics b = second.GetStatistics();
        Assert.Equal(a.BytesMapped + b.BytesMapped, measured[ZcopyMetrics.MemoryMapped].Value);
        Assert.Equal(a.LiveFolios + b.LiveFolios, measured[ZcopyMetrics.FoliosLive].Value);
        Assert.Equal(a.FragmentsAllocated + b.FragmentsAllocated, measured[ZcopyMetrics.FragmentsAllocated].Value);
        Assert.Equal(3, measured[ZcopyMetrics.FragmentsAllocated].Value);

        NativePages.PutBatch([one, two, three]);
    }

    [Fact]
    public void A_name_keeps_its_counts_when_one_of_its_allocators_is_collected()
    {
        string name = "collected-twin-" + Guid.NewGuid().ToString("N");
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        var options = new ZcopyAllocatorOptions { Name = name };
        using var survivor = new ZcopyAllocator(options);
        NativePages.Put(survivor.Alloc(100));
        WeakReference collected = AllocateThreePiecesAndDrop(options);

        Dictionary<string, RecordedMeasurement> before = Single(recorder.Collect(), name);
        Assert.Equal(4, before[ZcopyMetrics.FragmentsAllocated].Value);
        Collections.CollectUntilGone(collected, "the allocator");

        // The collected allocator's pieces and folios stay in the counters, counted once while the table still
        // lists it (its finalizer has run) and once it no longer does; the survivor's next piece adds to them.
        for (int i = 0; i < 2; i++)
        {
            Dictionary<string, RecordedMeasurement> after = Single(recorder.Collect(), name);
            Assert.Equal(4, after[ZcopyMetrics.FragmentsAllocated].Value);
            Assert.Equal(before[ZcopyMetrics.FoliosMapped].Value, after[ZcopyMetrics.FoliosMapped].Value);
            Assert.Equal(before[ZcopyMetrics.FoliosUnmapped].Value, after[ZcopyMetrics.FoliosUnmapped].Value);
            GC.Collect();
        }

        NativePages.Put(survivor.Alloc(100));
        Assert.Equal(5, Single(recorder.Collect(), name)[ZcopyMetrics.FragmentsAllocated].Value);
    }

    [Fact]
    public void A_name_whose_allocators_are_all_collected_counts_on_with_its_next_allocator()
    {
        // An allocator per connection under one name: whether the GC collected the previous ones before the
        // next is created must not reset the name's counters.
        string name = "collected-all-" + Guid.NewGuid().ToString("N");
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        var options = new ZcopyAllocatorOptions { Name = name };
        WeakReference collected = AllocateThreePiecesAndDrop(options);
        Assert.Equal(3, Single(recorder.Collect(), name)[ZcopyMetrics.FragmentsAllocated].Value);
        Collections.CollectUntilGone(collected, "the allocator");
        GC.Collect();
        Assert.DoesNotContain(recorder.Collect(), r => r.Allocator == name); // nothing to report for a while

        using var successor = new ZcopyAllocator(options);
        NativePages.Put(successor.Alloc(100));
        Assert.Equal(4, Single(recorder.Collect(), name)[ZcopyMetrics.FragmentsAllocated].Value);
    }

    [Fact]
    public void An_unnamed_allocators_series_ends_with_it()
    {
        // allocator-N names one allocator only: nothing is kept for it once it is collected, so a process
        // creating many unnamed allocators keeps nothing for them.
        WeakReference collected = AllocateThreePiecesAndDrop(new ZcopyAllocatorOptions());
        string name = AllocatorNameOf(collected);
        Assert.StartsWith("allocator-", name, StringComparison.Ordinal);
        Assert.True(AllocatorRegistry.HasSeries(name));
        Collections.CollectUntilGone(collected, "the allocator");
        Assert.False(AllocatorRegistry.HasSeries(name), $"{name}'s series outlived its allocator");
    }

    [Fact]
    public void Page_runs_of_NativePages_are_reported_under_their_own_tag()
    {
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        BioVec run = NativePages.Alloc(1 << 20);
        try
        {
            RecordedMeasurement own = Assert.Single(
                recorder.Collect(),
                r => r.Instrument.Name == ZcopyMetrics.MemoryMapped && r.Allocator == ZcopyMetrics.NativePagesTagValue);

            // Other tests' runs may come and go, but this one is mapped for the whole collection.
            Assert.True(own.Value >= 1 << 20, $"{own.Value} bytes reported with a 1 MiB run mapped");
        }
        finally
        {
            NativePages.Put(run);
        }
    }

    [Fact]
    public void Given_a_meter_factory_the_instruments_move_to_its_meter_and_are_reported_once()
    {
        string name = "metrics-factory-" + Guid.NewGuid().ToString("N");
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = name });
        NativePages.Put(allocator.Alloc(64));
        var factory = new TestMeterFactory();
        try
        {
            using var recorder = new MetricsRecorder(_ => true);
            Meter meter = ZcopyMetrics.CreateMeter(factory);
            Assert.Same(meter, ZcopyMetrics.CreateMeter(factory));
            Assert.Equal(ZcopyMetrics.MeterName, meter.Name);
            Assert.Same(factory, meter.Scope);

            // The static meter was retired: one measurement per instrument, from the factory's meter.
            Dictionary<string, RecordedMeasurement> measured = Single(recorder.Collect(), name);
            Assert.All(measured.Values, r => Assert.Same(meter, r.Instrument.Meter));
            Assert.Equal(1, measured[ZcopyMetrics.FragmentsAllocated].Value);
        }
        finally
        {
            factory.Dispose();
            ZcopyMetrics.RestoreStaticMeter();
        }

        using var afterwards = new MetricsRecorder(meter => meter.Scope is null);
        Assert.Equal(1, Single(afterwards.Collect(), name)[ZcopyMetrics.FragmentsAllocated].Value);
    }

    [Fact]
    public void A_listener_that_throws_when_told_of_an_instrument_leaves_every_instrument_published()
    {
        var factory = new TestMeterFactory();
        using var faulty = new MeterListener();
        faulty.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Name == ZcopyMetrics.FoliosLive)
            {
                throw new InvalidOperationException("faulty listener at " + instrument.Name);
            }
        };

        try
        {
            faulty.Start();
            InvalidOperationException thrown = Assert.Throws<InvalidOperationException>(() => ZcopyMetrics.CreateMeter(factory));
            Assert.Equal("faulty listener at " + ZcopyMetrics.FoliosLive, thrown.Message);
            faulty.Dispose();

            // The instruments after the one the listener failed on exist too: a listener starting now is told of all.
            Meter meter = ZcopyMetrics.CreateMeter(factory);
            var published = new List<string>();
            using var later = new MeterListener();
            later.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter == meter)
                {
                    published.Add(instrument.Name);
                }
            };
            later.Start();
            Assert.Equal(s_instruments.Order(StringComparer.Ordinal), published.Order(StringComparer.Ordinal));
        }
        finally
        {
            factory.Dispose();
            ZcopyMetrics.RestoreStaticMeter();
        }
    }

    [Fact]
    public void A_listener_that_allocates_while_the_static_meter_is_published_finds_one_static_meter()
    {
        // A listener's InstrumentPublished runs on the thread publishing; one that allocates from NativeZcopy
        // (a pooled exporter, say) maps a folio, and the mapping path creates the static meter if it finds none.
        var factory = new TestMeterFactory();
        var staticMeters = new HashSet<Meter>();
        int depth = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name != ZcopyMetrics.MeterName || instrument.Meter.Scope is not null)
            {
                return;
            }

            lock (staticMeters)
            {
                staticMeters.Add(instrument.Meter);
            }

            if (depth < 3 && Environment.CurrentManagedThreadId == s_publishingThread)
            {
                depth++;
                using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, PageSource.Os, processors: 1);
                NativePages.Put(allocator.Alloc(64)); // a new allocator's first piece maps its first folio
                depth--;
            }
        };

        try
        {
            ZcopyMetrics.CreateMeter(factory); // retires the static meter
            listener.Start();
            s_publishingThread = Environment.CurrentManagedThreadId;
            ZcopyMetrics.RestoreStaticMeter(); // publishes a new static meter, calling the listener
        }
        finally
        {
            s_publishingThread = 0;
            factory.Dispose();
        }

        lock (staticMeters)
        {
            Assert.Single(staticMeters);
        }

        // And it reports each allocator once.
        string name = "reentry-" + Guid.NewGuid().ToString("N");
        using var named = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = name });
        NativePages.Put(named.Alloc(64));
        using var recorder = new MetricsRecorder(meter => meter.Scope is null);
        Assert.Equal(1, Single(recorder.Collect(), name)[ZcopyMetrics.FragmentsAllocated].Value);
    }

    /// <summary>
    /// An allocator of <paramref name="options"/> that cut three pieces, gave them back and was disposed (which
    /// takes back the thread slice that referenced it), with nothing else holding it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference AllocateThreePiecesAndDrop(ZcopyAllocatorOptions options)
    {
        var allocator = new ZcopyAllocator(options);
        NativePages.PutBatch([allocator.Alloc(100), allocator.Alloc(100), allocator.Alloc(100)]);
        allocator.Dispose();
        return new WeakReference(allocator);
    }

    /// <summary>The metrics name of the allocator <paramref name="allocator"/> refers to, read without keeping it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string AllocatorNameOf(WeakReference allocator)
    {
        var target = (ZcopyAllocator)allocator.Target!;
        lock (AllocatorRegistry.SeriesLock)
        {
            return AllocatorRegistry.Reported.Single(pair => ReferenceEquals(pair.Key, target)).Value.Series.Name;
        }
    }

    /// <summary>The measurements of allocator <paramref name="name"/>, checking there is exactly one per instrument.</summary>
    private static Dictionary<string, RecordedMeasurement> Single(List<RecordedMeasurement> recorded, string name)
    {
        var mine = recorded.Where(r => r.Allocator == name).ToList();
        foreach (string instrument in s_instruments)
        {
            Assert.Single(mine, r => r.Instrument.Name == instrument);
        }

        Assert.Equal(s_instruments.Length, mine.Count);
        return mine.ToDictionary(r => r.Instrument.Name);
    }
}
