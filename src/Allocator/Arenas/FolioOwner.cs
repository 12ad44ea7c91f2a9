using System;
using System.Threading;
using NativeZcopy.Diagnostics;
using NativeZcopy.Native;
using NativeZcopy.SideTable;

namespace NativeZcopy.Arenas;

/// <summary>
/// One allocator's folios: maps them, hands each to an arena with a bulk share of references, takes
/// shares back, and unmaps a folio when its last reference goes. Owns the allocator's folio counters.
/// </summary>
internal sealed class FolioOwner : PageRunOwner
{
    /// <summary>Folios ever mapped. Interlocked.</summary>
    private long _foliosMapped;

    /// <summary>Folios ever unmapped. Interlocked.</summary>
    private long _foliosUnmapped;

    /// <summary>Pieces cut from thread slices and local caches beyond the one slice piece each arena counted.</summary>
    private readonly StripedCounter _cachedFragments = new();

    /// <summary>
    /// 1 once the allocator is disposed. Written once with Interlocked; read under an arena lock, and with
    /// Volatile outside one (thread slices, deferred releases, keeping a folio, joining local caches). A stale
    /// 0 there is safe: keeping a folio reads it again after the push and takes the folio back out, what a
    /// slice or a deferral took is found by the reclaim Dispose runs after setting the mark, and a local cache
    /// joins under the lock Dispose shuts the caches under.
    /// </summary>
    private int _disposed;

    /// <summary>Dead folios kept for reuse (retention); no slots under the default policy.</summary>
    private readonly FolioStash _stash;

    /// <summary>
    /// Creates the owner of folios of <paramref name="folioSize"/> bytes cut at <paramref name="alignment"/>,
    /// keeping up to <paramref name="retainedPerArena"/> dead folios per arena for reuse.
    /// </summary>
    public FolioOwner(PageSource source, int folioSize, int alignment, int arenas, int retainedPerArena, PageMapOptions mapOptions)
        : base(source)
    {
        FolioSize = folioSize;
        MapOptions = mapOptions;
        _stash = new FolioStash(arenas, retainedPerArena);

        // The arena's bulk share (the kernel's pagecnt_bias): one ref per piece the folio could ever hold
        // plus one for the arena itself, so the share can never run out before the folio does, and the
        // count cannot reach zero while the arena still holds any of it.
        FullShare = (folioSize / alignment) + 1;
    }

    /// <summary>Bytes per folio.</summary>
    public int FolioSize { get; }

    /// <summary>How fresh folios are mapped (prefaulted, huge pages).</summary>
    public PageMapOptions MapOptions { get; }

    /// <summary>Dead folios currently kept for reuse.</summary>
    public long FoliosRetained => _stash.Count;

    /// <summary>References a folio is registered with, all of them the adopting arena's.</summary>
    public int FullShare { get; }

    /// <summary>Diagnostics hook: records the fragments of sampled folio lives; null when tracking is off.</summary>
    public FragmentTracker? Tracker { get; init; }

    /// <summary>
    /// True when threads may defer releases on these folios (see <see cref="ThreadCache.DeferredRelease"/>):
    /// the allocator's thread cache is on, so its Trim and Dispose reclaim what threads defer.
    /// </summary>
    public bool DefersReleases { get; init; }

    /// <summary>Diagnostics hook: true when the folio life about to start is to be tracked.</summary>
    public bool SampleNextLife() => Tracker is { } tracker && tracker.SampleNextLife();

    /// <summary>True once the allocator is disposed.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Folios ever mapped.</summary>
    public long FoliosMapped => Volatile.Read(ref _foliosMapped);

    /// <summary>Folios ever unmapped.</summary>
    public long FoliosUnmapped => Volatile.Read(ref _foliosUnmapped);

    /// <summary>Pieces local caches cut, counted when each cache gives its slice back.</summary>
    public long CachedFragments => _cachedFragments.Sum;

    /// <summary>Adds pieces a local cache cut from a slice, once per slice.</summary>
    public void CountCachedFragments(long pieces) => _cachedFragments.Add(pieces);

    /// <summary>Marks the owner disposed; true for the one caller that did it.</summary>
    public bool MarkDisposed() => Interlocked.Exchange(ref _disposed, 1) == 0;

    /// <summary>
    /// Maps and registers a fresh folio holding <see cref="FullShare"/> refs. Returns its entry, or 0 with
    /// the OS error when the OS refuses. Never called under an arena lock: it is a system call.
    /// </summary>
    public long TryMapFolio(out int error)
    {
        RetryPendingUnmaps(); // reliability hook: runs whose unmap the OS refused get another chance first
        nint address = Source.TryMap((nuint)FolioSize, MapOptions, out error);
        if (address == 0)
        {
            return 0;
        }

        long entry;
        try
        {
            entry = PageSideTable.Register(address, (nuint)FolioSize, FullShare, this, SampleNextLife());
        }
        catch
        {
            Source.TryUnmap(address, (nuint)FolioSize, out _);
            throw;
        }

        Interlocked.Increment(ref _foliosMapped);
        return entry;
    }

    /// <summary>
    /// Gives back <paramref name="share"/> refs on a folio this thread holds them on. If they were the
    /// last, the folio is unmapped, so never call this under an arena lock. An OS refusal to unmap is not
    /// the caller's failure here (an arena giving back its own share, on Alloc or Dispose): the folio
    /// stays on the pending-unmap list and is retried, and nothing is thrown.
    /// </summary>
    /// <remarks>
    /// The share is part of the count, so with correct callers the count never drops below it. A piece
    /// released twice takes one of the share's refs (no count can tell that release from a real one; only
    /// fragment tracking sees it), so the drop stops at zero, as the folio's final release, and touches no
    /// other life (<see cref="PageSideTable.Drop"/>): the folio is unmapped or kept as usual and the table
    /// stays consistent, where a plain add would borrow from the generation and leave the folio mapped for good.
    /// </remarks>
    public static void ReleaseShare(long entry, int share)
    {
        int dropped = PageSideTable.Drop(entry, share, partial: true, out long seen);
        if (dropped != 0 && PageSideTable.CountOfState(seen) == dropped)
        {
            // A refused unmap is deferred by the owner, retried before its next map and on Dispose. Not caught
            // as an exception filtered on the pending list: another thread's retry may take the run off it first.
            PageSideTable.Run(entry).Owner!.TryFinalRelease(entry);
        }
    }

    /// <summary>
    /// A dead folio the stash kept, reissued with a full share for the arena that asked, or 0 when the
    /// stash is empty. No system call: safe under an arena lock.
    /// </summary>
    public long TryTakeRetained(int arena)
    {
        if (_stash.IsDisabled)
        {
            return 0;
        }

        long entry = _stash.TryPop(arena);
        return entry == 0 ? 0 : PageSideTable.Reissue(entry, FullShare, SampleNextLife());
    }

    /// <summary>
    /// The last reference is gone: keep the folio for reuse if the policy allows and the stash has room,
    /// else unmap it.
    /// </summary>
    public override void OnFinalRelease(long entry)
    {
        if (!TryKeep(entry))
        {
            ReleaseToOs(entry);
        }
    }

    /// <inheritdoc/>
    public override bool TryFinalRelease(long entry) => TryKeep(entry) || TryReleaseToOs(entry, out _);

    /// <summary>Keeps a dead folio for reuse if the policy allows and the stash has room; false if it must be unmapped.</summary>
    private bool TryKeep(long entry)
    {
        // A quarantined folio's bytes may still be on their way out of a closed socket, and a folio under its
        // last generation cannot be reissued: neither is kept.
        if (!_stash.IsDisabled && !IsDisposed && !PageSideTable.IsLastLife(entry) && _stash.TryPush(Thread.GetCurrentProcessorId(), entry))
        {
            // Dispose may have emptied the stash between our check and our push. If so, whichever of us
            // takes the entry back out owns it: if it is us, unmap it here.
            if (!IsDisposed || !_stash.TryRemove(entry))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Unmaps every folio the stash holds; returns how many. Each is owned by the thread that pops it.
    /// </summary>
    public int TrimRetained()
    {
        int trimmed = 0;
        for (long entry = _stash.TryPop(0); entry != 0; entry = _stash.TryPop(0))
        {
            // A refusal leaves the folio pending (retried by the next map, Trim and Dispose) and must not stop
            // the loop: Dispose calls this once, and a folio left in the stash would never be unmapped.
            if (TryReleaseToOs(entry, out _))
            {
                trimmed++;
            }
        }

        return trimmed;
    }

    /// <summary>
    /// Unmaps a folio whose count is exactly <paramref name="share"/>, the share the caller took out of an arena
    /// (its spare, or its parked folio, for Trim, which exists to give memory back), bypassing the stash. A
    /// compare-and-swap from that count to zero, not a store: a parked folio has handed out pieces of its
    /// current life, so a reference taken meanwhile (a Get on a piece racing its owner's dispose) makes this
    /// fail, and the caller then gives its share back instead. True when it took the count to zero: the
    /// caller then holds nothing, and <paramref name="unmapped"/> says whether the OS took the pages back (if
    /// it refused, the folio is pending, retried by the next map, Trim and Dispose; nothing is thrown).
    /// </summary>
    public bool TryUnmapIfOnlyHolder(long entry, int share, out bool unmapped)
    {
        ref PageRun run = ref PageSideTable.Run(entry);
        long dead = (long)((ulong)PageSideTable.GenerationOf(entry) << 32);
        long held = dead | (uint)share;
        if (Interlocked.CompareExchange(ref run.State, dead, held) != held)
        {
            unmapped = false;
            return false;
        }

        unmapped = TryReleaseToOs(entry, out _); // refused: pending, retried by the next map, Trim and Dispose
        return true;
    }

    /// <inheritdoc/>
    public override bool KeepsDead(long entry) => base.KeepsDead(entry) || _stash.Contains(entry);

    /// <inheritdoc/>
    protected override void OnUnmapped(nuint length) => Interlocked.Increment(ref _foliosUnmapped);

    /// <summary>Thrown when the OS refuses a folio.</summary>
    public OutOfMemoryException MapFailure(int error) =>
        new($"The OS refused to map a {FolioSize}-byte folio: {Source.DescribeMapError(error)}.");
}
