using System;
using NativeZcopy.SideTable;

namespace NativeZcopy.Metrics;

/// <summary>What the metrics know about one live <see cref="ZcopyAllocator"/> besides its statistics.</summary>
/// <remarks>
/// The registry's <see cref="System.Runtime.CompilerServices.ConditionalWeakTable{TKey, TValue}"/> keeps a
/// registration while its allocator is reachable, and the strong reference back to the allocator does not
/// keep the allocator alive (a value may reference its key). Once the allocator is unreachable, the
/// registration is finalized with it, and the finalizer, which can still read the allocator, retires its
/// final counts into its name's series (<see cref="NameSeries"/>). The table may still list the allocator
/// then (the finalizer's reference keeps a dependent handle's key alive until the next collection), so a
/// collection skips registrations marked <see cref="IsRetired"/>.
/// </remarks>
internal sealed class AllocatorRegistration
{
    /// <summary>The allocator registered, read once more by the finalizer.</summary>
    private readonly ZcopyAllocator _allocator;

    /// <summary>Creates the registration of <paramref name="allocator"/>, a member of <paramref name="series"/> already.</summary>
    public AllocatorRegistration(ZcopyAllocator allocator, NameSeries series)
    {
        _allocator = allocator;
        Series = series;
    }

    /// <summary>Retires the collected allocator's counts into its series.</summary>
    ~AllocatorRegistration()
    {
        // An allocator dropped without Dispose gives its folios back from its own finalizer, and the two are
        // finalized in no fixed order: wait for it (one more collection), so the series counts what it unmapped
        // (a review found the unmap missing from the name's counters in 2 of 3 runs).
        if (!_allocator.Owner.IsDisposed)
        {
            GC.ReRegisterForFinalize(this);
            return;
        }

        ZcopyStatistics? final;
        try
        {
            final = _allocator.GetStatistics();
        }
#pragma warning disable CA1031 // An exception must not leave a finalizer (it ends the process); the counts are then lost, the series still left.
        catch (Exception)
#pragma warning restore CA1031
        {
            final = null;
        }

        AllocatorRegistry.Retire(this, final);
    }

    /// <summary>True once the finalizer retired the allocator's counts: a collection no longer reads it. Owned by <see cref="AllocatorRegistry.SeriesLock"/>.</summary>
    public bool IsRetired { get; set; }

    /// <summary>The series of the allocator's name: its tags, and its collected namesakes' counts.</summary>
    public NameSeries Series { get; }

    /// <summary>Owner of the page runs rented through <see cref="ZcopyMemoryPool"/>s over this allocator.</summary>
    public PageRunOwner Runs => _allocator.PoolRuns;
}
