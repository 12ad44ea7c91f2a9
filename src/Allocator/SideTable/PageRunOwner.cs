using System;
using System.Collections.Generic;
using System.Threading;
using NativeZcopy.Native;

namespace NativeZcopy.SideTable;

/// <summary>
/// Decides what happens to a run whose refcount reached zero. The base behaviour is the design's default:
/// unmap the real pages at once. An allocator subclasses it to count what it unmaps.
/// </summary>
/// <remarks>
/// <b>Refused unmaps.</b> When the OS refuses to unmap a dead run, the run is not forgotten: it stays
/// registered with a count of zero (so every Get and Put on it keeps failing cleanly) and goes on this
/// owner's pending list. The list is retried before this owner's next map, after its next successful
/// unmap, on every <see cref="ZcopyAllocator.Dispose"/> call (a second call on a disposed allocator
/// retries) and on <see cref="RetryPendingUnmaps"/>; a run leaves it only when
/// the OS has taken the pages back and the run is unregistered. Nothing is lost, and the caller whose
/// Put took the count to zero still gets the documented <see cref="InvalidOperationException"/>.
/// </remarks>
internal class PageRunOwner
{
    /// <summary>Bytes of this owner's runs registered now. Changed only by <see cref="AddBytesMapped"/>.</summary>
    private long _bytesMapped;

    /// <summary>Guards <see cref="_pendingUnmaps"/>.</summary>
    private readonly Lock _pendingLock = new();

    /// <summary>Entries of dead runs whose unmap the OS refused. Owned by <see cref="_pendingLock"/>.</summary>
    private readonly List<long> _pendingUnmaps = [];

    /// <summary>
    /// Count of <see cref="_pendingUnmaps"/>: written under <see cref="_pendingLock"/>, read with Volatile without
    /// it so the map and unmap paths can skip the lock. A stale 0 only skips one retry: the refused run stays on
    /// the list, and the next map, unmap, Trim or Dispose retries it.
    /// </summary>
    private int _pendingCount;

    /// <summary>Creates an owner that returns runs to <paramref name="source"/>.</summary>
    public PageRunOwner(PageSource source) => Source = source;

    /// <summary>The page source the owner's runs were mapped from, and are unmapped to.</summary>
    public PageSource Source { get; }

    /// <summary>Bytes of this owner's runs currently registered in the side table (for the metrics).</summary>
    public long BytesMapped => Volatile.Read(ref _bytesMapped);

    /// <summary>Called by <see cref="PageSideTable"/> as it registers (+) and unregisters (-) a run of this owner.</summary>
    internal void AddBytesMapped(long delta) => Interlocked.Add(ref _bytesMapped, delta);

    /// <summary>Dead runs whose unmap the OS refused and that wait for a retry.</summary>
    public int PendingUnmaps => Volatile.Read(ref _pendingCount);

    /// <summary>
    /// Called once, on the thread whose <c>Put</c> took the count from 1 to 0. The run is dead (count 0,
    /// no <c>Get</c> can revive it) but still registered and mapped.
    /// </summary>
    /// <exception cref="InvalidOperationException">The OS refused to unmap; the run stays registered, dead,
    /// on the pending list (see the remarks).</exception>
    public virtual void OnFinalRelease(long entry)
    {
        ReleaseToOs(entry);
    }

    /// <summary>True when <paramref name="entry"/> is a dead run waiting for its unmap to be retried.</summary>
    public bool IsPendingUnmap(long entry)
    {
        lock (_pendingLock)
        {
            return _pendingUnmaps.Contains(entry);
        }
    }

    /// <summary>
    /// True when <paramref name="entry"/> is a dead run (count 0) that this owner rightly keeps registered:
    /// waiting for its unmap to be retried, or, for an owner that keeps runs for reuse, kept. For
    /// <see cref="PageSideTable.Verify"/>.
    /// </summary>
    public virtual bool KeepsDead(long entry) => IsPendingUnmap(entry);

    /// <summary>
    /// Tries again to unmap every run whose unmap the OS refused. Returns how many were unmapped; the
    /// others stay pending. Never throws for an OS refusal.
    /// </summary>
    public int RetryPendingUnmaps()
    {
        if (Volatile.Read(ref _pendingCount) == 0)
        {
            return 0;
        }

        long[] pending;
        lock (_pendingLock)
        {
            pending = [.. _pendingUnmaps];
            _pendingUnmaps.Clear();
            Volatile.Write(ref _pendingCount, 0);
        }

        // The system calls run outside the lock; a run this thread took off the list is its own until it
        // is either unregistered or put back, so two retries never unmap the same run.
        int done = 0;
        foreach (long entry in pending)
        {
            if (TryUnmapAndUnregister(entry, out _))
            {
                done++;
            }
            else
            {
                Defer(entry);
            }
        }

        return done;
    }

    /// <summary>Unmaps a dead run and then unregisters it; if the OS refuses, defers it and throws.</summary>
    /// <remarks>
    /// Unmap first, unregister second: while the run is still registered nobody else can be handed its
    /// addresses, and once it is unmapped the OS may give them to a new run, whose fresh entries
    /// <see cref="PageSideTable.Unregister"/> leaves alone (it clears only entries that are still ours).
    /// If the OS refuses, the run stays registered with a count of zero: every Get and Put on it keeps
    /// failing cleanly, the table still describes the mapping that really exists, and the pending list
    /// remembers to give it back.
    /// </remarks>
    protected void ReleaseToOs(long entry)
    {
        if (!TryReleaseToOs(entry, out string? refusal))
        {
            var refused = new InvalidOperationException(refusal);
            refused.Data[UnmapRefusedKey] = true;
            throw refused;
        }
    }

    /// <summary>
    /// <see cref="ReleaseToOs"/> for the owner's own paths, where a refusal is not the caller's failure:
    /// false, with the refusal described, when the OS refused and the run went on the pending list.
    /// </summary>
    /// <remarks>
    /// Whether the run was refused is this call's answer, not the pending list's: once deferred, the run
    /// may be taken off that list at once by another thread's retry (its next map, its successful unmap, a
    /// Trim), and unmapped, before the caller could look it up there. For the same reason the run's base and
    /// length are read before it is deferred.
    /// </remarks>
    protected bool TryReleaseToOs(long entry, out string? refusal)
    {
        if (TryUnmapAndUnregister(entry, out int error))
        {
            if (Volatile.Read(ref _pendingCount) != 0)
            {
                RetryPendingUnmaps(); // the OS takes pages back again: give it the ones it refused
            }

            refusal = null;
            return true;
        }

        // Read before the run is deferred: from then on another thread's retry may unregister it.
        ref PageRun run = ref PageSideTable.Run(entry);
        nuint length = run.Length;
        nint address = run.Base;
        Defer(entry);
        refusal =
            $"The OS refused to unmap the {length}-byte run at 0x{address:X}: {Source.DescribeUnmapError(error)}. " +
            "The run is kept and its unmap retried before this owner's next map.";
        return false;
    }

    /// <summary>
    /// <see cref="OnFinalRelease"/> for the owner's own paths (an arena or a slice giving its share back):
    /// never throws for an OS refusal, which leaves the run on the pending list. False when refused.
    /// </summary>
    public virtual bool TryFinalRelease(long entry) => TryReleaseToOs(entry, out _);

    /// <summary>
    /// Puts a dead run (count zero) on the pending list without a system call, for a caller that holds an
    /// arena lock: the next <see cref="RetryPendingUnmaps"/> (before this owner's next map, at Trim and at
    /// Dispose) unmaps it.
    /// </summary>
    public void UnmapLater(long entry) => Defer(entry);

    /// <summary>
    /// Key of the <see cref="Exception.Data"/> entry that marks the exception of a refused unmap: the
    /// reference was dropped and the run is kept and retried, so a caller that must not throw (a dispose)
    /// can let it go without losing anything (see <see cref="IsUnmapRefusal"/>).
    /// </summary>
    private const string UnmapRefusedKey = "NativeZcopy.UnmapRefused";

    /// <summary>True when <paramref name="error"/> reports a refused unmap (nothing lost; retried later).</summary>
    public static bool IsUnmapRefusal(Exception error) => error.Data[UnmapRefusedKey] is true;

    /// <summary>Hook for owners that count what they give back.</summary>
    protected virtual void OnUnmapped(nuint length)
    {
    }

    /// <summary>The unmap and unregistration of a dead run; false with the OS error when refused.</summary>
    private bool TryUnmapAndUnregister(long entry, out int error)
    {
        ref PageRun run = ref PageSideTable.Run(entry);
        nuint length = run.Length;
        if (!Source.TryUnmap(run.Base, length, out error))
        {
            return false;
        }

        PageSideTable.Unregister(entry);
        OnUnmapped(length);
        return true;
    }

    /// <summary>Puts a dead run on the pending list.</summary>
    private void Defer(long entry)
    {
        lock (_pendingLock)
        {
            _pendingUnmaps.Add(entry);
            Volatile.Write(ref _pendingCount, _pendingUnmaps.Count);
        }
    }
}
