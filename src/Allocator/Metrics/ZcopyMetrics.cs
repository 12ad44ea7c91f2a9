using System;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Metrics;

namespace NativeZcopy;

/// <summary>
/// NativeZcopy's metrics: a <see cref="Meter"/> named <see cref="MeterName"/> with observable instruments
/// that read every live allocator's statistics when a listener collects (<c>dotnet-counters</c>,
/// OpenTelemetry, a <see cref="MeterListener"/>).
/// </summary>
/// <remarks>
/// <para>
/// <b>Nothing on the hot path.</b> The allocator already keeps its counters for
/// <see cref="ZcopyAllocator.GetStatistics"/>; the instruments are all observable, so an allocation
/// records nothing whether or not anyone listens, and the cost of a collection is one statistics read per
/// live allocator.
/// </para>
/// <para>
/// <b>Which meter.</b> Until <see cref="CreateMeter"/> is called, a static meter publishes the instruments
/// from the library's first mapping on (the first folio or page run). An application with dependency injection passes its
/// <see cref="IMeterFactory"/> to <see cref="CreateMeter"/> instead: the instruments then live on the
/// factory's meter, and the static one is disposed so that a listener subscribing by name sees every
/// measurement once. Publishing calls each listener's <c>InstrumentPublished</c>; if one throws, every
/// instrument is still published and its exception comes out of the call that published the meter
/// (<see cref="CreateMeter"/>, or the allocation that made the first mapping, which gives that mapping back).
/// </para>
/// <para>
/// <b>Instruments</b>, in the OpenTelemetry naming style of Kestrel's <c>aspnetcore.memory_pool.*</c>; every
/// measurement carries <see cref="AllocatorTag"/>, the allocator's <see cref="ZcopyAllocatorOptions.Name"/>:
/// <list type="bullet">
/// <item><c>nativezcopy.memory.mapped</c> (By, up-down): bytes mapped now, an allocator's folios plus the page
/// runs rented through <see cref="ZcopyMemoryPool"/>s over it; runs from <see cref="NativePages.Alloc(int)"/>
/// are reported under the tag value <see cref="NativePagesTagValue"/>.</item>
/// <item><c>nativezcopy.folios.live</c> (up-down): folios mapped now; <c>nativezcopy.folios.retained</c>
/// (up-down): those of them kept mapped for reuse with no piece in them
/// (<see cref="ZcopyAllocatorOptions.RetainedFoliosPerArena"/>).</item>
/// <item><c>nativezcopy.folios.mapped</c>, <c>nativezcopy.folios.unmapped</c>, <c>nativezcopy.folios.reused</c>
/// (counters): folios ever mapped, unmapped, and reissued in place.</item>
/// <item><c>nativezcopy.fragments.allocated</c> (counter): pieces ever handed out.</item>
/// <item><c>nativezcopy.fragments.leaked</c> (counter): tracked fragments reported as leaked
/// (<see cref="ZcopyAllocatorOptions.TrackingSampleRate"/>, <see cref="ZcopyAllocator.FragmentLeaked"/>);
/// <c>nativezcopy.fragments.tracked</c> (up-down): tracked fragments outstanding now.</item>
/// </list>
/// An allocator is reported while it is reachable; one that was collected with pieces still referenced
/// drops out of the per-allocator figures. Allocators sharing a name (an allocator per shard, say) are one
/// series: each measurement is their sum, so no exporter sees two measurements with the same tags. The
/// counters of a name keep what its collected allocators counted, so they never go back, and a later
/// allocator of the name counts on from them; the series of an unnamed allocator ends with it.
/// </para>
/// </remarks>
public static class ZcopyMetrics
{
    /// <summary>The meter's name, for <c>dotnet-counters monitor --counters NativeZcopy</c> or OpenTelemetry's <c>AddMeter</c>.</summary>
    public const string MeterName = "NativeZcopy";

    /// <summary>The tag naming the allocator a measurement is about.</summary>
    public const string AllocatorTag = "nativezcopy.allocator";

    /// <summary>The <see cref="AllocatorTag"/> value of page runs mapped by <see cref="NativePages.Alloc(int)"/> itself.</summary>
    public const string NativePagesTagValue = "NativePages";

    /// <summary>Bytes currently mapped (up-down counter, <c>By</c>).</summary>
    public const string MemoryMapped = "nativezcopy.memory.mapped";

    /// <summary>Folios currently mapped (up-down counter).</summary>
    public const string FoliosLive = "nativezcopy.folios.live";

    /// <summary>Folios whose pieces are all back, kept mapped for reuse (up-down counter; part of <see cref="FoliosLive"/>).</summary>
    public const string FoliosRetained = "nativezcopy.folios.retained";

    /// <summary>Folios ever mapped (counter).</summary>
    public const string FoliosMapped = "nativezcopy.folios.mapped";

    /// <summary>Folios ever unmapped (counter).</summary>
    public const string FoliosUnmapped = "nativezcopy.folios.unmapped";

    /// <summary>Folios ever reissued in place because all their pieces were back (counter).</summary>
    public const string FoliosReused = "nativezcopy.folios.reused";

    /// <summary>Pieces ever handed out (counter).</summary>
    public const string FragmentsAllocated = "nativezcopy.fragments.allocated";

    /// <summary>Tracked fragments ever reported as leaked (counter).</summary>
    public const string FragmentsLeaked = "nativezcopy.fragments.leaked";

    /// <summary>Tracked fragments outstanding now (up-down counter).</summary>
    public const string FragmentsTracked = "nativezcopy.fragments.tracked";

    /// <summary>Serializes meter creation and the switch from the static meter to factories' meters.</summary>
    private static readonly Lock s_lock = new();

    /// <summary>Factory meters that already carry the instruments (a factory hands back the same meter for the same options).</summary>
    private static readonly ConditionalWeakTable<Meter, object> s_factoryMeters = new();

    /// <summary>The meter used when no factory was given; null before the first allocator and after <see cref="CreateMeter"/>. Owned by <see cref="s_lock"/>; read with Volatile.</summary>
    private static Meter? s_staticMeter;

    /// <summary>True once a factory was given: the static meter is not created again. Owned by <see cref="s_lock"/>; read with Volatile.</summary>
    private static bool s_factoryGiven;

    /// <summary>
    /// Publishes the instruments on a meter from <paramref name="meterFactory"/> (which owns and disposes
    /// it) and retires the static meter. Calling it again with the same factory returns the same meter.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="meterFactory"/> is null.</exception>
    public static Meter CreateMeter(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        lock (s_lock)
        {
            // The static meter goes first: publishing calls listeners, and a listener that allocates (and so
            // maps) in its callback must find no static meter to create (see EnsureStaticMeter).
            Volatile.Write(ref s_factoryGiven, true);
            s_staticMeter?.Dispose();
            Volatile.Write(ref s_staticMeter, null);

            Meter meter = meterFactory.Create(new MeterOptions(MeterName) { Version = Version });
            if (!s_factoryMeters.TryGetValue(meter, out _))
            {
                s_factoryMeters.Add(meter, meterFactory);
                ZcopyInstruments.Publish(meter);
            }

            return meter;
        }
    }

    /// <summary>The meter's version: the library's assembly version.</summary>
    private static string? Version => typeof(ZcopyMetrics).Assembly.GetName().Version?.ToString();

    /// <summary>Creates the static meter unless it exists or a factory was given. Called as runs are registered.</summary>
    internal static void EnsureStaticMeter()
    {
        if (Volatile.Read(ref s_staticMeter) is not null || Volatile.Read(ref s_factoryGiven))
        {
            return;
        }

        lock (s_lock)
        {
            if (s_staticMeter is null && !s_factoryGiven)
            {
                // Published after the meter is in place: publishing calls listeners' callbacks on this thread,
                // and one that allocates maps a folio and comes back here. s_lock lets this thread in again, so
                // only the meter already in place stops it from creating a second meter (and a third...), each
                // reporting every allocator again.
                var meter = new Meter(MeterName, Version);
                Volatile.Write(ref s_staticMeter, meter);
                ZcopyInstruments.Publish(meter);
            }
        }
    }

    /// <summary>Goes back to the static meter, as before any <see cref="CreateMeter"/>: for tests of both modes in one process.</summary>
    internal static void RestoreStaticMeter()
    {
        lock (s_lock)
        {
            Volatile.Write(ref s_factoryGiven, false);
        }

        EnsureStaticMeter();
    }
}
