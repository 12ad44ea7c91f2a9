using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Runtime.ExceptionServices;

namespace NativeZcopy.Metrics;

/// <summary>
/// The observable instruments of <see cref="ZcopyMetrics"/> and the callbacks that measure them. Callbacks
/// run only when a listener collects; each reads the statistics of every live allocator.
/// </summary>
internal static class ZcopyInstruments
{
    /// <summary>The tags of <see cref="NativePages.Alloc(int)"/>'s own runs, built once.</summary>
    private static readonly KeyValuePair<string, object?>[] s_nativePagesTags =
        [new KeyValuePair<string, object?>(ZcopyMetrics.AllocatorTag, ZcopyMetrics.NativePagesTagValue)];

    /// <summary>
    /// Every instrument, as a call that creates it on a meter. Creating one publishes it to the listeners then
    /// and there (<see cref="Publish"/>).
    /// </summary>
    private static readonly Action<Meter>[] s_instruments =
    [
        static meter => meter.CreateObservableUpDownCounter(
            ZcopyMetrics.MemoryMapped, ObserveBytesMapped, "By",
            "Bytes of native memory mapped now: an allocator's folios plus the page runs rented through its pools."),
        static meter => meter.CreateObservableUpDownCounter(
            ZcopyMetrics.FoliosLive, static () => Observe(static s => s.LiveFolios), "{folio}",
            "Folios mapped now, held by an arena or by pieces still referenced."),
        static meter => meter.CreateObservableUpDownCounter(
            ZcopyMetrics.FoliosRetained, static () => Observe(static s => s.FoliosRetained), "{folio}",
            "Folios with every piece back, kept mapped for reuse; part of the live folios."),
        static meter => meter.CreateObservableCounter(
            ZcopyMetrics.FoliosMapped, static () => Observe(CumulativeCounter.FoliosMapped), "{folio}",
            "Folios ever mapped from the OS."),
        static meter => meter.CreateObservableCounter(
            ZcopyMetrics.FoliosUnmapped, static () => Observe(CumulativeCounter.FoliosUnmapped), "{folio}",
            "Folios ever returned to the OS."),
        static meter => meter.CreateObservableCounter(
            ZcopyMetrics.FoliosReused, static () => Observe(CumulativeCounter.FoliosReused), "{folio}",
            "Folios ever reissued in place because every piece of them was back."),
        static meter => meter.CreateObservableCounter(
            ZcopyMetrics.FragmentsAllocated, static () => Observe(CumulativeCounter.FragmentsAllocated), "{fragment}",
            "Pieces ever handed out."),
        static meter => meter.CreateObservableCounter(
            ZcopyMetrics.FragmentsLeaked, static () => Observe(CumulativeCounter.FragmentsLeaked), "{fragment}",
            "Tracked fragments reported as leaked: still outstanding past the allocator's LeakReportAge, or at its Dispose."),
        static meter => meter.CreateObservableUpDownCounter(
            ZcopyMetrics.FragmentsTracked, static () => Observe(static s => s.TrackedFragmentsOutstanding), "{fragment}",
            "Tracked fragments still holding a reference now."),
    ];

    /// <summary>
    /// Creates every instrument on <paramref name="meter"/>. A listener's <c>InstrumentPublished</c> runs
    /// inside each creation, and one that throws would stop the rest: the meter would stay without them for
    /// good, since it is never published again. So every instrument is created, and the first exception a
    /// listener threw is thrown afterwards; the meter is complete whichever listener failed.
    /// </summary>
    public static void Publish(Meter meter)
    {
        ExceptionDispatchInfo? failure = null;
        foreach (Action<Meter> create in s_instruments)
        {
            try
            {
                create(meter);
            }
#pragma warning disable CA1031 // Not swallowed: the first is thrown once every instrument exists.
            catch (Exception exception)
#pragma warning restore CA1031
            {
                failure ??= ExceptionDispatchInfo.Capture(exception);
            }
        }

        failure?.Throw();
    }

    /// <summary>
    /// One measurement per allocator name of what <paramref name="read"/> picks from the statistics, summed
    /// over the live allocators of that name: one series per tag set, as exporters expect (two measurements
    /// with the same tags in one collection are kept, summed or dropped depending on the exporter).
    /// </summary>
    private static List<Measurement<long>> Observe(Func<ZcopyStatistics, long> read)
    {
        var byName = new Dictionary<string, MeasurementSum>(StringComparer.Ordinal);
        lock (AllocatorRegistry.SeriesLock)
        {
            foreach (KeyValuePair<ZcopyAllocator, AllocatorRegistration> pair in AllocatorRegistry.Reported)
            {
                Add(byName, pair.Value.Series.Name, pair.Value.Series.Tags, read(pair.Key.GetStatistics()));
            }
        }

        return Measurements(byName);
    }

    /// <summary>
    /// One measurement per allocator name of <paramref name="counter"/>: the live allocators' sum plus the
    /// counts of the name's collected allocators, never below the name's last report (<see cref="NameSeries"/>).
    /// </summary>
    private static List<Measurement<long>> Observe(CumulativeCounter counter)
    {
        var bySeries = new Dictionary<NameSeries, long>();
        lock (AllocatorRegistry.SeriesLock)
        {
            foreach (KeyValuePair<ZcopyAllocator, AllocatorRegistration> pair in AllocatorRegistry.Reported)
            {
                NameSeries series = pair.Value.Series;
                bySeries[series] = bySeries.GetValueOrDefault(series) + NameSeries.Read(pair.Key.GetStatistics(), counter);
            }

            var measurements = new List<Measurement<long>>(bySeries.Count);
            foreach ((NameSeries series, long sum) in bySeries)
            {
                measurements.Add(new Measurement<long>(series.Report(counter, sum), series.Tags));
            }

            return measurements;
        }
    }

    /// <summary>Per allocator name, folio bytes plus pool runs; then the runs of <see cref="NativePages.Alloc(int)"/>.</summary>
    private static List<Measurement<long>> ObserveBytesMapped()
    {
        var byName = new Dictionary<string, MeasurementSum>(StringComparer.Ordinal);
        lock (AllocatorRegistry.SeriesLock)
        {
            foreach (KeyValuePair<ZcopyAllocator, AllocatorRegistration> pair in AllocatorRegistry.Reported)
            {
                long bytes = pair.Key.GetStatistics().BytesMapped + pair.Value.Runs.BytesMapped;
                Add(byName, pair.Value.Series.Name, pair.Value.Series.Tags, bytes);
            }
        }

        // An allocator named like the NativePages tag value shares its series, as two allocators of one name do.
        Add(byName, ZcopyMetrics.NativePagesTagValue, s_nativePagesTags, NativePages.OsOwner.BytesMapped);
        return Measurements(byName);
    }

    /// <summary>Adds <paramref name="value"/> to the sum for <paramref name="name"/>.</summary>
    private static void Add(Dictionary<string, MeasurementSum> byName, string name, KeyValuePair<string, object?>[] tags, long value)
    {
        byName[name] = byName.TryGetValue(name, out MeasurementSum sum) ? sum with { Value = sum.Value + value } : new MeasurementSum(value, tags);
    }

    /// <summary>One measurement per name.</summary>
    private static List<Measurement<long>> Measurements(Dictionary<string, MeasurementSum> byName)
    {
        var measurements = new List<Measurement<long>>(byName.Count);
        foreach (MeasurementSum sum in byName.Values)
        {
            measurements.Add(new Measurement<long>(sum.Value, sum.Tags));
        }

        return measurements;
    }
}
