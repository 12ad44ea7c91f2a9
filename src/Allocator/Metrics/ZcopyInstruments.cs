using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace NativeZcopy.Metrics;

/// <summary>
/// The observable instruments of <see cref="ZcopyMetrics"/> and the callbacks that measure them. Callbacks
/// run only when a listener collects; each reads the statistics of every live allocator.
/// </summary>
internal static class ZcopyInstruments
{
    /// <summary>Creates every instrument on <paramref name="meter"/>.</summary>
    public static void Publish(Meter meter)
    {
        meter.CreateObservableUpDownCounter(
            ZcopyMetrics.MemoryMapped, ObserveBytesMapped, "By",
            "Bytes of native memory mapped now: an allocator's folios plus the page runs rented through its pools.");
        meter.CreateObservableUpDownCounter(
            ZcopyMetrics.FoliosLive, static () => Observe(static s => s.LiveFolios), "{folio}",
            "Folios mapped now, held by an arena or by pieces still referenced.");
        meter.CreateObservableUpDownCounter(
            ZcopyMetrics.FoliosRetained, static () => Observe(static s => s.FoliosRetained), "{folio}",
            "Folios with every piece back, kept mapped for reuse; part of the live folios.");
        meter.CreateObservableCounter(
            ZcopyMetrics.FoliosMapped, static () => Observe(static s => s.FoliosMapped), "{folio}",
            "Folios ever mapped from the OS.");
        meter.CreateObservableCounter(
            ZcopyMetrics.FoliosUnmapped, static () => Observe(static s => s.FoliosUnmapped), "{folio}",
            "Folios ever returned to the OS.");
        meter.CreateObservableCounter(
            ZcopyMetrics.FoliosReused, static () => Observe(static s => s.FoliosReusedInPlace), "{folio}",
            "Folios ever reissued in place because every piece of them was back.");
        meter.CreateObservableCounter(
            ZcopyMetrics.FragmentsAllocated, static () => Observe(static s => s.FragmentsAllocated), "{fragment}",
            "Pieces ever handed out.");
        meter.CreateObservableCounter(
            ZcopyMetrics.FragmentsLeaked, static () => Observe(static s => s.FragmentsLeaked), "{fragment}",
            "Tracked fragments reported as leaked: still outstanding past the allocator's LeakReportAge, or at its Dispose.");
        meter.CreateObservableUpDownCounter(
            ZcopyMetrics.FragmentsTracked, static () => Observe(static s => s.TrackedFragmentsOutstanding), "{fragment}",
            "Tracked fragments still holding a reference now.");
    }

    /// <summary>One measurement per live allocator of what <paramref name="read"/> picks from its statistics.</summary>
    private static List<Measurement<long>> Observe(Func<ZcopyStatistics, long> read)
    {
        var measurements = new List<Measurement<long>>();
        foreach (KeyValuePair<ZcopyAllocator, AllocatorRegistration> pair in AllocatorRegistry.Live)
        {
            measurements.Add(new Measurement<long>(read(pair.Key.GetStatistics()), pair.Value.Tags));
        }

        return measurements;
    }

    /// <summary>Per allocator, folio bytes plus pool runs; then the runs of <see cref="NativePages.Alloc(int)"/>.</summary>
    private static List<Measurement<long>> ObserveBytesMapped()
    {
        var measurements = new List<Measurement<long>>();
        foreach (KeyValuePair<ZcopyAllocator, AllocatorRegistration> pair in AllocatorRegistry.Live)
        {
            long bytes = pair.Key.GetStatistics().BytesMapped + pair.Value.Runs.BytesMapped;
            measurements.Add(new Measurement<long>(bytes, pair.Value.Tags));
        }

        measurements.Add(new Measurement<long>(
            NativePages.OsOwner.BytesMapped, new KeyValuePair<string, object?>(ZcopyMetrics.AllocatorTag, ZcopyMetrics.NativePagesTagValue)));
        return measurements;
    }
}
