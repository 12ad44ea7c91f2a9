using System;
using System.Collections.Generic;

namespace NativeZcopy.Metrics;

/// <summary>
/// One allocator name's series: the tags its measurements carry, and what keeps its counters from going back
/// when one of the allocators sharing the name is collected.
/// </summary>
/// <remarks>
/// Allocators sharing a name are reported as one series, their sum. Without this, the sum of a counter
/// (folios mapped, fragments allocated...) dropped by a collected allocator's whole count, and an
/// <c>ObservableCounter</c> that goes down reads as a reset to an exporter, or as a negative rate. A
/// collected allocator's final counts are kept here (<see cref="Leave"/>, from its registration's
/// finalizer) and added to the live allocators' sum. Between the collection, which drops the allocator from
/// the registry, and its finalizer, which retires its counts, the sum still dips: each counter reports the
/// highest value it reported before until the sum is back above it.
/// A name the application gave (<see cref="ZcopyAllocatorOptions.Name"/>) keeps its series for the life of the
/// process, so an allocator per connection or per request under one name counts on from its predecessors
/// whenever the GC happens to collect them; what it keeps is a few longs per name. An automatic
/// <c>allocator-N</c> name belongs to one allocator only, so its series ends with that allocator's finalizer:
/// a process that creates many unnamed allocators keeps nothing for them.
/// Every member is owned by <see cref="AllocatorRegistry"/>'s lock.
/// </remarks>
internal sealed class NameSeries
{
    /// <summary>How many <see cref="CumulativeCounter"/> values there are.</summary>
    private const int CounterCount = (int)CumulativeCounter.FragmentsLeaked + 1;

    /// <summary>Final counts of this name's allocators that were collected, by <see cref="CumulativeCounter"/>.</summary>
    private readonly long[] _retired = new long[CounterCount];

    /// <summary>The last value reported for each <see cref="CumulativeCounter"/>, the floor of the next report.</summary>
    private readonly long[] _reported = new long[CounterCount];

    /// <summary>True once the application gave this name: the series outlives its allocators. Owned by the registry's SeriesLock.</summary>
    private bool _kept;

    /// <summary>Registrations of this name not yet finalized.</summary>
    private int _members;

    /// <summary>Creates the series of <paramref name="name"/>, with no member yet; <paramref name="kept"/> for a name the application gave.</summary>
    public NameSeries(string name, bool kept)
    {
        Name = name;
        _kept = kept;
        Tags = [new KeyValuePair<string, object?>(ZcopyMetrics.AllocatorTag, name)];
    }

    /// <summary>Makes the series outlive its allocators: the application gave its name. Under the registry's SeriesLock.</summary>
    public void Keep() => _kept = true;

    /// <summary>The <c>nativezcopy.allocator</c> tag value.</summary>
    public string Name { get; }

    /// <summary>The tags every measurement of this name carries, built once.</summary>
    public KeyValuePair<string, object?>[] Tags { get; }

    /// <summary>The value of <paramref name="counter"/> in <paramref name="statistics"/>.</summary>
    public static long Read(in ZcopyStatistics statistics, CumulativeCounter counter) => counter switch
    {
        CumulativeCounter.FoliosMapped => statistics.FoliosMapped,
        CumulativeCounter.FoliosUnmapped => statistics.FoliosUnmapped,
        CumulativeCounter.FoliosReused => statistics.FoliosReusedInPlace,
        CumulativeCounter.FragmentsAllocated => statistics.FragmentsAllocated,
        CumulativeCounter.FragmentsLeaked => statistics.FragmentsLeaked,
        _ => throw new ArgumentOutOfRangeException(nameof(counter), counter, "Not a cumulative counter."),
    };

    /// <summary>A new allocator of this name was registered.</summary>
    public void Join() => _members++;

    /// <summary>
    /// An allocator of this name was collected; <paramref name="final"/> holds its last statistics, or null
    /// when they could not be read. True when no member is left and the series ends (never for a kept name).
    /// </summary>
    public bool Leave(ZcopyStatistics? final)
    {
        if (final is { } statistics)
        {
            for (int i = 0; i < CounterCount; i++)
            {
                _retired[i] += Read(statistics, (CumulativeCounter)i);
            }
        }

        return --_members == 0 && !_kept;
    }

    /// <summary>
    /// What to report for <paramref name="counter"/> given <paramref name="liveSum"/>, the sum over this name's
    /// allocators still registered: that plus the collected ones' counts, never below the last report.
    /// </summary>
    public long Report(CumulativeCounter counter, long liveSum)
    {
        int i = (int)counter;
        _reported[i] = Math.Max(_reported[i], liveSum + _retired[i]);
        return _reported[i];
    }
}
