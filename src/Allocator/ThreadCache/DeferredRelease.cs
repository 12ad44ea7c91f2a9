using System;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.SideTable;

namespace NativeZcopy.ThreadCache;

/// <summary>
/// References a thread has released on one page life but not yet dropped from its shared count: the
/// pieces of another thread's folio, or of a folio its own slice has moved past, which would otherwise
/// cost one compare-and-swap each. Not thread-safe: its holder (<see cref="ThreadSlice"/>) serializes access.
/// </summary>
/// <remarks>
/// <para>
/// A run of releases on one life (a batch freed in order, a completion thread releasing a message's
/// pieces) then costs one atomic operation for the run instead of one per piece: the kernel's bias
/// accounting turned around, counting refs going out instead of coming in.
/// </para>
/// <para>
/// Why the life stays valid: the deferred refs are still part of the shared count, so the count cannot
/// reach zero, and the life cannot end or be reissued, while they are held. A piece naming the same entry
/// therefore names a live life without a side-table lookup, as a piece of the thread's slice does.
/// </para>
/// <para>
/// When they are dropped: when the thread releases a piece of another life that is deferred in turn (the
/// run ends; a release that is not deferred, such as a page run's or a large piece's, leaves it), at once when
/// the deferred refs are all the count has left (<see cref="HoldsEveryRef"/>: the final release unmaps the
/// page as it would have without deferral), before the thread enters an arena, and when
/// <see cref="ZcopyAllocator.Trim"/>, <see cref="ZcopyAllocator.Dispose"/> or the registry's pruning of dead
/// threads reclaims them. No deferral starts once the folio's allocator is disposed, since nothing would
/// reclaim it. The check for the final release is made only when the thread adds refs, so if
/// the other holders let go afterwards (another thread deferring too, the arena retiring the folio, a
/// slice giving its share back, a large piece released at once), the deferred refs are the last and keep
/// the folio mapped until one of the other drops: at most one folio per thread, as with its slice.
/// </para>
/// <para>
/// A piece released twice while its life is deferred is not caught here (as any double release on a live
/// folio is caught only by fragment tracking); when the deferral is dropped, every reference the life
/// still holds is dropped, so the page is not kept by references nobody holds, and the excess is reported
/// by the call that dropped it (a Put, or Trim), except before an allocation, which must not throw.
/// </para>
/// </remarks>
internal struct DeferredRelease
{
    /// <summary>The page's base address (the piece's <see cref="BioVec.Page"/>), or 0 when nothing is deferred.</summary>
    public nint Page;

    /// <summary>The page life's side-table entry, or 0 when nothing is deferred.</summary>
    public long Entry;

    /// <summary>References released and not yet dropped from the shared count.</summary>
    public int Refs;

    /// <summary>Adds <paramref name="refs"/> released references of a piece of <paramref name="page"/>'s life <paramref name="entry"/> if that is the deferred life.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAdd(nint page, long entry, int refs)
    {
        if (entry == Entry && page == Page && Entry != 0)
        {
            Refs += refs;
            return true;
        }

        return false;
    }

    /// <summary>
    /// True when the deferred refs are every reference the life has left (or more, after a double release
    /// elsewhere): they must be dropped now, so the page goes at its final release as it would without
    /// deferral. A plain read of the count: while the deferred refs hold it above zero only other holders
    /// lower it, so a stale read only delays the drop to the next release or reclaim.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool HoldsEveryRef() =>
        PageSideTable.CountOfState(Volatile.Read(ref PageSideTable.Run(Entry).State)) <= Refs;

    /// <summary>Empties the deferral and returns what it held, to be dropped with <see cref="Drop"/>.</summary>
    public DeferredRelease Detach()
    {
        DeferredRelease held = this;
        this = default;
        return held;
    }

    /// <summary>
    /// Drops the held references from the shared count; the last one hands the page to its owner (unmapped,
    /// retained or reissued), so never call this under an arena lock.
    /// </summary>
    /// <exception cref="InvalidOperationException">The life held fewer references than this drops (a double
    /// release); every reference it held was dropped.</exception>
    public readonly void Drop()
    {
        if (Entry != 0)
        {
            NativePages.ReleaseDeferred(Entry, Page, Refs);
        }
    }
}
