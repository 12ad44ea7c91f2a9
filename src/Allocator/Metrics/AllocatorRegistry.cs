using System.Collections.Generic;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.SideTable;

namespace NativeZcopy.Metrics;

/// <summary>
/// Every live <see cref="ZcopyAllocator"/>, held weakly, so that the observable instruments can read their
/// statistics when a listener collects, and the series of each allocator name. Allocators register in their
/// constructor; nothing is recorded on the allocation path.
/// </summary>
/// <remarks>
/// A <see cref="ConditionalWeakTable{TKey, TValue}"/> does the bookkeeping of allocators: it is thread-safe,
/// keeps no allocator alive, forgets one when it is collected, and can be enumerated while allocators come
/// and go. An allocator that is collected while pieces of it are still referenced stops being reported; its
/// folios still count in the process total (<see cref="NativePages.BytesMapped"/>), and its counts up to
/// then stay in its name's counters (<see cref="NameSeries"/>).
/// </remarks>
internal static class AllocatorRegistry
{
    /// <summary>Allocator to its registration; entries vanish with their allocator.</summary>
    private static readonly ConditionalWeakTable<ZcopyAllocator, AllocatorRegistration> s_allocators = new();

    /// <summary>Name to its series, while the name has a registration not yet finalized. Owned by <see cref="SeriesLock"/>.</summary>
    private static readonly Dictionary<string, NameSeries> s_series = new(System.StringComparer.Ordinal);

    /// <summary>Allocators registered without a name so far, for <c>allocator-N</c>. Interlocked.</summary>
    private static int s_unnamed;

    /// <summary>
    /// Guards the series (<see cref="NameSeries"/>) and registering. A collection holds it from its first
    /// statistics read to its last report, and a finalizer holds it to retire an allocator and mark its
    /// registration (<see cref="AllocatorRegistration.IsRetired"/>), so in one collection an allocator is
    /// counted live or retired, never both, whether or not the table still lists it. Never taken on an
    /// allocation path.
    /// </summary>
    public static Lock SeriesLock { get; } = new();

    /// <summary>Registers a new allocator under <paramref name="name"/>, or <c>allocator-N</c> when null.</summary>
    public static void Register(ZcopyAllocator allocator, string? name)
    {
        bool named = name is not null;
        name ??= "allocator-" + Interlocked.Increment(ref s_unnamed).ToString(CultureInfo.InvariantCulture);
        lock (SeriesLock)
        {
            if (!s_series.TryGetValue(name, out NameSeries? series))
            {
                series = new NameSeries(name, kept: named);
                s_series.Add(name, series);
            }

            // A name the application gives keeps its series even when an unnamed allocator happened to open it
            // under the same automatic name: otherwise the series ended with its members, and the next
            // allocator of the name counted from zero again (the diagnostics hunt).
            if (named)
            {
                series.Keep();
            }

            series.Join();
            s_allocators.Add(allocator, new AllocatorRegistration(allocator, series));
        }
    }

    /// <summary>True while the series of <paramref name="name"/> is kept: for tests of when a series ends.</summary>
    internal static bool HasSeries(string name)
    {
        lock (SeriesLock)
        {
            return s_series.ContainsKey(name);
        }
    }

    /// <summary>
    /// The allocators a collection reads, with their registrations: registered, not yet collected, and not
    /// retired (a retired one's counts are in its series already, though the table may still list it).
    /// Enumerate under <see cref="SeriesLock"/>.
    /// </summary>
    public static IEnumerable<KeyValuePair<ZcopyAllocator, AllocatorRegistration>> Reported
    {
        get
        {
            foreach (KeyValuePair<ZcopyAllocator, AllocatorRegistration> pair in s_allocators)
            {
                if (!pair.Value.IsRetired)
                {
                    yield return pair;
                }
            }
        }
    }

    /// <summary>
    /// A collected allocator's <paramref name="registration"/> leaves its series with <paramref name="final"/>,
    /// its last statistics; the last member to leave ends the series. Called by the registration's finalizer.
    /// </summary>
    public static void Retire(AllocatorRegistration registration, ZcopyStatistics? final)
    {
        lock (SeriesLock)
        {
            registration.IsRetired = true;
            if (registration.Series.Leave(final))
            {
                s_series.Remove(registration.Series.Name);
            }
        }
    }
}
