using System.Collections.Generic;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Native;
using NativeZcopy.SideTable;

namespace NativeZcopy.Metrics;

/// <summary>
/// Every live <see cref="ZcopyAllocator"/>, held weakly, so that the observable instruments can read their
/// statistics when a listener collects. Allocators register in their constructor; nothing is recorded on
/// the allocation path.
/// </summary>
/// <remarks>
/// A <see cref="ConditionalWeakTable{TKey, TValue}"/> does the bookkeeping: it is thread-safe, keeps no
/// allocator alive, forgets one when it is collected, and can be enumerated while allocators come and go.
/// An allocator that is collected while pieces of it are still referenced stops being reported; its folios
/// still count in the process total (<see cref="PageSideTable.BytesMapped"/>).
/// </remarks>
internal static class AllocatorRegistry
{
    /// <summary>Allocator to its registration; entries vanish with their allocator.</summary>
    private static readonly ConditionalWeakTable<ZcopyAllocator, AllocatorRegistration> s_allocators = new();

    /// <summary>Allocators registered without a name so far, for <c>allocator-N</c>. Interlocked.</summary>
    private static int s_unnamed;

    /// <summary>Registers a new allocator under <paramref name="name"/>, or <c>allocator-N</c> when null.</summary>
    public static void Register(ZcopyAllocator allocator, string? name)
    {
        name ??= "allocator-" + Interlocked.Increment(ref s_unnamed).ToString(CultureInfo.InvariantCulture);
        s_allocators.AddOrUpdate(allocator, new AllocatorRegistration(name, new PageRunOwner(PageSource.Os)));
    }

    /// <summary>The owner of page runs rented through pools over <paramref name="allocator"/>.</summary>
    public static PageRunOwner RunOwnerOf(ZcopyAllocator allocator) => RegistrationOf(allocator).Runs;

    /// <summary>The registration of <paramref name="allocator"/> (every allocator registers in its constructor).</summary>
    public static AllocatorRegistration RegistrationOf(ZcopyAllocator allocator) =>
        s_allocators.GetValue(allocator, static a => new AllocatorRegistration("allocator-unregistered", new PageRunOwner(PageSource.Os)));

    /// <summary>The allocators alive now, with their registrations.</summary>
    public static IEnumerable<KeyValuePair<ZcopyAllocator, AllocatorRegistration>> Live => s_allocators;
}
