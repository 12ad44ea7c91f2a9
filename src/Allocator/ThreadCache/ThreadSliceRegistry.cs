using System;
using System.Collections.Generic;
using System.Threading;

namespace NativeZcopy.ThreadCache;

/// <summary>
/// Every thread's <see cref="ThreadSlice"/>, so that <see cref="ZcopyAllocator.Trim"/> and
/// <see cref="ZcopyAllocator.Dispose"/> can take back slices held by idle or dead threads, and statistics
/// can count the pieces cut from them.
/// </summary>
/// <remarks>
/// Registration happens once per thread and reclaiming only on Trim and Dispose, so one lock serializes
/// both, give-backs included; it also serializes reclaimers, which <see cref="ThreadSlice"/>'s handshake
/// requires. Readers (statistics) take the array without the lock: it is replaced, never changed in place,
/// once published.
/// </remarks>
internal static class ThreadSliceRegistry
{
    /// <summary>Serializes registration and reclaiming.</summary>
    private static readonly Lock s_lock = new();

    /// <summary>The registered slices; copy-on-write under <see cref="s_lock"/>, read with Volatile.</summary>
    private static ThreadSlice[] s_slices = [];

    /// <summary>
    /// Slice count at which the next registration first prunes slices of dead threads. Owned by
    /// <see cref="s_lock"/>. A pruning walks every slot, and passes a process-wide barrier when a thread died;
    /// set to twice what it leaves, so its cost is amortized O(1) per add, and never under 64, so a process
    /// with few threads does not pay for it every few registrations.
    /// </summary>
    private static int s_pruneAt = 64;

    /// <summary>The lock that serializes registration and reclaiming, for tests that hold a reclaim (a Trim's, a Dispose's) at a chosen point.</summary>
    internal static Lock SyncRootForTests => s_lock;

    /// <summary>The registered slices now, for statistics.</summary>
    public static ReadOnlySpan<ThreadSlice> Snapshot => Volatile.Read(ref s_slices);

    /// <summary>Registers a new thread's slice. Now and then (when the list has doubled) first drops dead threads' slices.</summary>
    public static void Add(ThreadSlice slice)
    {
        List<(ZcopyAllocator? Allocator, FolioSlice Slice, DeferredRelease Deferred)>? reclaimed = null;
        lock (s_lock)
        {
            ThreadSlice[] slices = s_slices;
            if (slices.Length >= s_pruneAt)
            {
                reclaimed = ReclaimLocked(allocator: null, deadOnly: true, out slices);

                // Twice what is left amortizes the next walk over as many adds; the floor spares a short list
                // a walk and a barrier every few registrations (see s_pruneAt).
                s_pruneAt = Math.Max(64, slices.Length * 2);
            }

            var grown = new ThreadSlice[slices.Length + 1];
            slices.CopyTo(grown, 0);
            grown[^1] = slice;
            Volatile.Write(ref s_slices, grown);

            // Under the lock, like every give-back (see GiveBack). A refused drop of a dead thread's deferred
            // references (a double release somewhere) is not this thread's to report: it is registering,
            // not releasing. Trim and Dispose report theirs.
            _ = GiveBack(reclaimed);
        }
    }

    /// <summary>
    /// Takes back every slice of <paramref name="allocator"/> and every slice of a dead thread, giving
    /// their shares back to their folios, and drops every thread's deferred references; returns how many
    /// slots it took something from. Drops dead threads from the list.
    /// </summary>
    /// <exception cref="InvalidOperationException">A life held fewer references than a thread deferred on
    /// it (a double release); everything else was still given back.</exception>
    public static int Reclaim(ZcopyAllocator allocator)
    {
        List<(ZcopyAllocator? Allocator, FolioSlice Slice, DeferredRelease Deferred)>? reclaimed;
        InvalidOperationException? refused;
        lock (s_lock)
        {
            reclaimed = ReclaimLocked(allocator, deadOnly: false, out _);
            refused = GiveBack(reclaimed);
        }

        if (refused is not null)
        {
            throw refused;
        }

        return reclaimed?.Count ?? 0;
    }

    /// <summary>
    /// Revokes the chosen slices, passes one process-wide barrier, and takes them back (see
    /// <see cref="ThreadSlice"/>). Slices of dead threads leave the list.
    /// </summary>
    private static List<(ZcopyAllocator? Allocator, FolioSlice Slice, DeferredRelease Deferred)>? ReclaimLocked(ZcopyAllocator? allocator, bool deadOnly, out ThreadSlice[] remaining)
    {
        ThreadSlice[] slices = s_slices;
        bool[] dead = new bool[slices.Length];
        int deadCount = 0;
        for (int i = 0; i < slices.Length; i++)
        {
            dead[i] = !slices[i].Thread.IsAlive;
            deadCount += dead[i] ? 1 : 0;
            if (dead[i] || !deadOnly)
            {
                slices[i].Revoke();
            }
        }

        if (deadCount == 0 && deadOnly)
        {
            remaining = slices;
            return null;
        }

        // After this, every owner either is seen inside its section (and waited for) or sees the revocation.
        Interlocked.MemoryBarrierProcessWide();

        List<(ZcopyAllocator? Allocator, FolioSlice Slice, DeferredRelease Deferred)>? reclaimed = null;
        for (int i = 0; i < slices.Length; i++)
        {
            if (!dead[i] && deadOnly)
            {
                continue;
            }

            slices[i].Reclaim(dead[i] ? null : allocator, out ZcopyAllocator? owner, out FolioSlice held, out DeferredRelease deferred);
            if (held.Entry != 0 || deferred.Entry != 0)
            {
                (reclaimed ??= []).Add((owner, held, deferred));
            }
        }

        remaining = slices;
        if (deadCount > 0)
        {
            remaining = new ThreadSlice[slices.Length - deadCount];
            for (int i = 0, j = 0; i < slices.Length; i++)
            {
                if (!dead[i])
                {
                    remaining[j++] = slices[i];
                }
            }

            Volatile.Write(ref s_slices, remaining);
        }

        return reclaimed;
    }

    /// <summary>
    /// Gives reclaimed shares back and drops reclaimed deferred references; the last reference on a folio
    /// unmaps it. Returns the first refused drop, after every other was done.
    /// </summary>
    /// <remarks>
    /// Called under the lock, though it may unmap: a reclaimer that found a slot already taken by another
    /// (a dead thread pruned by a registration, say) must not return before that other has given it back,
    /// or a Dispose could return with folios still mapped that it was meant to unmap. Registration and
    /// reclaiming are rare, so the wait costs nothing that matters; no arena lock is ever held here.
    /// </remarks>
    private static InvalidOperationException? GiveBack(List<(ZcopyAllocator? Allocator, FolioSlice Slice, DeferredRelease Deferred)>? reclaimed)
    {
        InvalidOperationException? refused = null;
        if (reclaimed is null)
        {
            return refused;
        }

        foreach ((ZcopyAllocator? allocator, FolioSlice held, DeferredRelease deferred) in reclaimed)
        {
            try
            {
                ThreadSlice.GiveBack(allocator, held);
            }
            catch (InvalidOperationException error)
            {
                // An unmap the OS refused and nobody keeps pending any more: reported, the rest still given back.
                refused ??= error;
            }

            try
            {
                deferred.Drop();
            }
            catch (InvalidOperationException error)
            {
                // The life held fewer references than the thread released on it (a double release,
                // somewhere): what it held was still dropped, and the rest still is.
                refused ??= error;
            }
        }

        return refused;
    }
}
