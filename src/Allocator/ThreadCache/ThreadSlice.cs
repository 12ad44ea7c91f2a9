using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NativeZcopy.Arenas;
using NativeZcopy.SideTable;

namespace NativeZcopy.ThreadCache;

/// <summary>
/// One thread's slice of a folio: the front <see cref="ZcopyAllocator.Alloc"/> and
/// <see cref="NativePages.Put(in BioVec)"/> go through before any arena, so the common case (a thread
/// releasing the headers it allocated) costs no lock and no atomic operation.
/// </summary>
/// <remarks>
/// <para>
/// Accounting is <see cref="FolioSlice"/>'s, shared with <see cref="ZcopyLocalCache"/>: a slice of a folio
/// taken from an arena with one reference, turned into a share, cut and taken back with plain arithmetic.
/// The folio's shared count changes once when the slice is taken and once when what is left of the share
/// is given back. A piece cut here is an ordinary piece: released on another thread, or after the slice
/// moved on, it drops its reference on the folio's shared count like any other.
/// </para>
/// <para>
/// Layout. The fields the owner touches on every call live in a native block, <see cref="ThreadSliceState"/>
/// (its remarks say why), which the hot paths reach through the <c>[ThreadStatic]</c> pointer
/// <see cref="t_state"/> without this object. This object keeps what is managed or cold: the thread (for
/// pruning), the allocator (<see cref="_allocator"/>, for reclaimers, statistics and give-backs; the block holds
/// its <see cref="ZcopyAllocator.Id"/>) and the block's address.
/// </para>
/// <para>
/// Ownership. The owner thread (the one whose <see cref="t_current"/>, and so whose <see cref="t_state"/>, this
/// is) is the only one that cuts, takes back or installs. Another thread may <b>reclaim</b> the slice
/// (<see cref="ZcopyAllocator.Trim"/>, <see cref="ZcopyAllocator.Dispose"/>, or a thread that died holding one)
/// to give its share back, since an idle thread would otherwise keep its folio mapped forever. The two meet
/// through an asymmetric handshake on the block's <see cref="ThreadSliceState.Busy"/> and
/// <see cref="ThreadSliceState.Revoked"/>, so the owner's side stays free of locked instructions:
/// </para>
/// <list type="number">
/// <item>The owner stores <c>Busy = 1</c>, then loads <c>Revoked</c>; only if it is 0 does it touch the
/// slice fields, and it ends with a releasing store <c>Busy = 0</c>.</item>
/// <item>The reclaimer stores <c>Revoked = 1</c>, runs <see cref="Interlocked.MemoryBarrierProcessWide"/>
/// (membarrier on Linux, FlushProcessWriteBuffers on Windows: every running thread passes a full fence),
/// then waits until it loads <c>Busy == 0</c>. Now the owner is outside its critical section and any
/// section it starts will load <c>Revoked == 1</c> and keep out: the process-wide barrier orders the
/// owner's store of <c>Busy</c> before its load of <c>Revoked</c> as a full fence would, so either the
/// reclaimer sees <c>Busy == 1</c> and waits, or the owner sees <c>Revoked == 1</c>.</item>
/// <item>The reclaimer detaches the slice (clears its fields) and releases with <c>Revoked = 0</c>; the
/// owner's next acquiring load of <c>Revoked</c> sees the cleared fields and takes a new slice. The detached
/// share is given back to its allocator afterwards, still under the registry's lock: until then it stays
/// counted on the folio, so the folio cannot be released early.</item>
/// </list>
/// <para>
/// Nothing the owner does while revoked is wrong, only slower: a cut falls back to the arena, and a
/// released piece falls back to the shared count, where its reference lives anyway. The owner's
/// <c>Volatile</c> store followed by a <c>Volatile</c> load is ordered for the compiler (RyuJIT does not
/// move volatile accesses across each other); only the processor may reorder that pair, and the
/// process-wide barrier is what forbids it at the one moment it matters.
/// </para>
/// <para>
/// The block's lifetime. It is freed by this object's finalizer and nowhere else, so it lives as long as the
/// slice is reachable, and the slice is reachable while anything can still read the block: while its thread
/// lives (<see cref="t_current"/> is a root of that thread; <see cref="t_state"/> is set right after it and
/// never cleared, so every read through <see cref="t_state"/> is the live owner's), and while the registry or
/// any snapshot of it holds the slice (reclaimers and statistics reach the block only through those). The
/// registry drops a slice only once its thread is dead (the pruning of a reclaim or a registration), so the
/// block is freed only when none of these holds it. One gap is the JIT's: once a member has loaded
/// <see cref="_state"/>, it may consider <c>this</c> dead, and a caller whose last reference that was (a
/// snapshot's last element, read by statistics while a Trim prunes the slice) would let the finalizer free the
/// block under the read. So every member that reads the block follows its last use of it with
/// <see cref="GC.KeepAlive"/> of <c>this</c>, the owner-only ones too: their caller's <see cref="t_current"/>
/// holds the slice, but a test may call them on a slice it holds from another thread.
/// </para>
/// </remarks>
internal sealed unsafe class ThreadSlice
{
    /// <summary>The calling thread's slice, or null before its first allocation.</summary>
    [ThreadStatic]
    private static ThreadSlice? t_current;

    /// <summary>
    /// The calling thread's slice's block, or null before its first allocation: the hot paths' way in (see
    /// <see cref="ThreadSliceState"/>). Set right after <see cref="t_current"/>, never cleared.
    /// </summary>
    [ThreadStatic]
    private static ThreadSliceState* t_state;

    /// <summary>Blocks allocated and not yet freed, for tests that check the finalizer frees them. Changed only with Interlocked.</summary>
    private static long s_liveBlocks;

    /// <summary>The thread that owns this slice; a reclaimer checks it to prune slices of dead threads.</summary>
    private readonly Thread _thread;

    /// <summary>
    /// The block with the fields the owner touches on every call (<see cref="ThreadSliceState"/>), 128-byte
    /// aligned; freed by the finalizer (see the remarks).
    /// </summary>
    private readonly ThreadSliceState* _state;

    /// <summary>
    /// The allocator the slice was cut from, or null when there is none. Owner-written inside a critical
    /// section; cleared by a reclaimer; read outside a section only as a hint. Set and cleared with the
    /// block's <see cref="ThreadSliceState.AllocatorId"/>, which the cut compares instead, since the block
    /// cannot hold a reference. Written with Volatile, and read with it by statistics, which read it on either
    /// side of the cut count: a write must not pass the slice's writes before it (see
    /// <see cref="ZcopyAllocator.GetStatistics"/>).
    /// </summary>
    private ZcopyAllocator? _allocator;

    /// <summary>
    /// A thread allocating from two allocators keeps its slice with the first until it has allocated this
    /// many pieces from others: 64 is one slice's worth of 128 B pieces, so a thread that moved to another
    /// allocator takes the slice over soon, while one alternating between two pays a slice change (a lock
    /// and three atomic adds) at most once per 64 pieces, not once per piece.
    /// </summary>
    private const int MissesBeforeYield = 64;

    private ThreadSlice(Thread thread)
    {
        _thread = thread;
        _state = (ThreadSliceState*)NativeMemory.AlignedAlloc(ThreadSliceState.Size, ThreadSliceState.Size);
        *_state = default;
        Interlocked.Increment(ref s_liveBlocks);
    }

    /// <summary>Frees the block: nothing can read it any more (see the remarks).</summary>
    ~ThreadSlice()
    {
        // Null when the allocation threw: the runtime still finalizes the object.
        if (_state != null)
        {
            NativeMemory.AlignedFree(_state);
            Interlocked.Decrement(ref s_liveBlocks);
        }
    }

    /// <summary>The calling thread's slice, or null before the thread's first allocation.</summary>
    public static ThreadSlice? Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
        get => t_current;
    }

    /// <summary>The calling thread's slice's block, or null before the thread's first allocation.</summary>
    public static ThreadSliceState* State
    {
        // AggressiveOptimization on this and on the block's cut and take-back: see ZcopyAllocator.Alloc.
        [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
        get => t_state;
    }

    /// <summary>Tests only: blocks allocated and not yet freed by a finalizer, in the whole process.</summary>
    internal static long LiveBlocksForTests => Interlocked.Read(ref s_liveBlocks);

    /// <summary>
    /// The allocator this slice was cut from, as last seen: a hint; inside a section the block's
    /// <see cref="ThreadSliceState.AllocatorId"/> is what a cut compares.
    /// </summary>
    public ZcopyAllocator? Allocator => Volatile.Read(ref _allocator);

    /// <summary>The thread that owns the slice.</summary>
    public Thread Thread => _thread;

    /// <summary>Owner only: bytes of the slice last installed.</summary>
    public int InstalledBytes
    {
        get
        {
            int installed = _state->InstalledBytes;
            GC.KeepAlive(this); // the finalizer frees the block: see the remarks
            return installed;
        }
    }

    /// <summary>Pieces cut from the current slice so far, for statistics (a racy but atomic read).</summary>
    public int PiecesCut
    {
        get
        {
            int cut = Volatile.Read(ref _state->Slice.Cut);
            GC.KeepAlive(this); // the finalizer frees the block: see the remarks
            return cut;
        }
    }

    /// <summary>Tests only: the block's busy flag.</summary>
    internal int BusyForTests
    {
        get
        {
            int busy = Volatile.Read(ref _state->Busy);
            GC.KeepAlive(this); // the finalizer frees the block: see the remarks
            return busy;
        }

        set
        {
            Volatile.Write(ref _state->Busy, value);
            GC.KeepAlive(this); // the finalizer frees the block: see the remarks
        }
    }

    /// <summary>Tests only: the block's revoked flag.</summary>
    internal int RevokedForTests
    {
        get
        {
            int revoked = Volatile.Read(ref _state->Revoked);
            GC.KeepAlive(this); // the finalizer frees the block: see the remarks
            return revoked;
        }
    }

    /// <summary>The calling thread's slice, created and registered on first use.</summary>
    public static ThreadSlice ForCurrentThread()
    {
        ThreadSlice? slice = t_current;
        if (slice is null)
        {
            slice = new ThreadSlice(Thread.CurrentThread);
            ThreadSliceRegistry.Add(slice);
            t_current = slice;
            t_state = slice._state; // after t_current, which keeps the block from the finalizer from now on
        }

        return slice;
    }

    /// <summary>
    /// Owner only. Takes <paramref name="refs"/> released references of <paramref name="piece"/> back into
    /// the slice's share if the piece was cut from this slice's folio life
    /// (<see cref="ThreadSliceState.TryTakeBack"/>), or adds them to the references deferred on its life
    /// (<see cref="ThreadSliceState.TryDefer"/>); false otherwise (the caller then goes through
    /// <see cref="Defer"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRelease(in BioVec piece, int refs)
    {
        bool released = _state->TryTakeBack(piece, refs) || _state->TryDefer(piece, refs);
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
        return released;
    }

    /// <summary>
    /// Owner only, after <see cref="TryRelease"/> said no or for a release by address, once the caller has
    /// checked <paramref name="entry"/> against the side table (a live, untracked life of a folio whose
    /// allocator has the thread cache): adds <paramref name="refs"/> released references to the deferral if
    /// it is on this life, else ends the deferral, dropping its references, and starts one on this life.
    /// Drops them at once when they are all the life has left, when a reclaimer is at work, or when the
    /// folio's allocator is disposed.
    /// </summary>
    /// <exception cref="InvalidOperationException">A life held fewer references than were dropped on it
    /// (a double release); every other reference was still dropped.</exception>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Defer(long entry, nint page, int refs)
    {
        ref ThreadSliceState s = ref *_state;
        var now = new DeferredRelease { Page = page, Entry = entry, Refs = refs };
        DeferredRelease ended = default;
        Volatile.Write(ref s.Busy, 1);

        // No deferral starts on a disposed allocator's folio: Dispose reclaimed every deferral once, and nothing
        // would reclaim a later one, so two threads deferring the last references of a folio would keep it
        // mapped until each released something else. Read inside the section, after Revoked: Dispose marks the
        // allocator before it revokes, so a section its reclaim does not wait for sees the mark (the handshake
        // above), and one it waits for has its deferral reclaimed. The caller's refs keep the life, and so the
        // descriptor's owner, in place.
        if (Volatile.Read(ref s.Revoked) == 0 && PageSideTable.Run(entry).Owner is not FolioOwner { IsDisposed: true })
        {
            if (s.Deferred.Entry == entry && s.Deferred.Page == page)
            {
                s.Deferred.Refs += refs;
            }
            else
            {
                ended = s.Deferred;
                s.Deferred = now;
            }

            now = s.Deferred.HoldsEveryRef() ? s.Deferred.Detach() : default;
        }

        Volatile.Write(ref s.Busy, 0);
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
        try
        {
            ended.Drop();
        }
        finally
        {
            now.Drop(); // the final release, or a reclaimer at work: dropped now
        }
    }

    /// <summary>
    /// Owner only: references this thread released on <paramref name="entry"/>'s life and has not dropped yet.
    /// A reclaimer (another thread's Trim or Dispose) may clear the deferral between two such reads; it clears
    /// before it drops, so callers that compare this with the life's count read the count first
    /// (<see cref="NativePages.RefCount"/>, <see cref="NativePages.IsLive(in BioVec)"/>).
    /// </summary>
    public int DeferredRefsOn(long entry)
    {
        int refs = _state->Deferred.Entry == entry ? _state->Deferred.Refs : 0;
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
        return refs;
    }

    /// <summary>
    /// Drops the references the calling thread deferred, if any: before it enters an arena, whose folio
    /// they may be keeping from being reissued in place. Never throws, since allocating calls it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DropDeferredOfCurrentThread()
    {
        // A hint outside the section: only a reclaimer changes the entry from another thread, and only to 0;
        // DropDeferred detaches inside the section, so a stale non-zero drops nothing.
        ThreadSliceState* state = t_state;
        if (state != null && state->Deferred.Entry != 0)
        {
            DropDeferred(state);
        }
    }

    /// <summary>Owner only: ends the deferral of <paramref name="state"/>, the calling thread's block, and drops its references, outside the section.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DropDeferred(ThreadSliceState* state)
    {
        Volatile.Write(ref state->Busy, 1);
        DeferredRelease held = Volatile.Read(ref state->Revoked) == 0 ? state->Deferred.Detach() : default;
        Volatile.Write(ref state->Busy, 0);
        try
        {
            held.Drop();
        }
        catch (InvalidOperationException)
        {
            // More releases than references on that life (a double release, somewhere): every reference it
            // held was still dropped. An allocation is the wrong place to report it, and TryAlloc promises
            // not to throw; like any double release on a live folio, only fragment tracking catches it.
        }
    }

    /// <summary>
    /// Owner only. Called when another allocator than the slice's wants a piece: true when the slice should
    /// be given up to it (see <see cref="MissesBeforeYield"/>).
    /// </summary>
    public bool CountMiss()
    {
        bool yield = ++_state->Misses > MissesBeforeYield;
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
        return yield;
    }

    /// <summary>
    /// Owner only. Makes <paramref name="slice"/> (a piece just taken from <paramref name="allocator"/>,
    /// holding one reference) the current slice, and cuts the first piece from it. Returns false, with nothing changed, when
    /// a reclaimer is at work; the caller then keeps the slice piece. The previous slice must have been
    /// given back with <see cref="TryDetach"/>.
    /// </summary>
    public bool TryInstall(ZcopyAllocator allocator, in BioVec slice, int size, int fullSize, out BioVec piece)
    {
        ref ThreadSliceState s = ref *_state;
        piece = default;
        Volatile.Write(ref s.Busy, 1);
        bool installed = Volatile.Read(ref s.Revoked) == 0 && s.Slice.Entry == 0;
        if (installed)
        {
            Volatile.Write(ref _allocator, allocator);
            s.AllocatorId = allocator.Id;
            s.Misses = 0;
            s.InstalledBytes = slice.Length;
            piece = s.Slice.Install(slice, allocator.Alignment, size, fullSize);
        }

        Volatile.Write(ref s.Busy, 0);
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
        return installed;
    }

    /// <summary>
    /// Owner only. Detaches the current slice (any allocator's) into <paramref name="held"/>, to be given
    /// back with <see cref="GiveBack"/>. False when a reclaimer is at work: it gives the slice back itself if
    /// the slice is of the allocator it reclaims for or of a disposed one (<see cref="Reclaim"/>), else the
    /// slice stays the owner's.
    /// </summary>
    public bool TryDetach(out ZcopyAllocator? allocator, out FolioSlice held)
    {
        ref ThreadSliceState s = ref *_state;
        Volatile.Write(ref s.Busy, 1);
        bool detached = Volatile.Read(ref s.Revoked) == 0;
        allocator = detached ? _allocator : null;
        held = detached ? s.Slice.Detach() : default;
        if (detached)
        {
            Volatile.Write(ref _allocator, null);
            s.AllocatorId = 0;
        }

        Volatile.Write(ref s.Busy, 0);
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
        return detached;
    }

    /// <summary>
    /// Reclaimer only (serialized by the registry's lock), after <see cref="Revoke"/> and a process-wide
    /// barrier. Waits for the owner to leave its section, then takes the slice into <paramref name="held"/>
    /// if it belongs to <paramref name="allocator"/> (any allocator when null) or to a disposed allocator, and
    /// the deferred references into <paramref name="deferred"/>, and lets the owner back in.
    /// </summary>
    /// <remarks>
    /// A disposed allocator's slice is taken whatever allocator asks, because nothing else would take it: an
    /// owner that installed a slice after the allocator's Dispose had reclaimed (ZcopyAllocator.AllocSliced)
    /// sees the mark and gives it back, unless this reclaimer revoked it between the install and the give-back.
    /// The mark is visible here: it was set before that Dispose's reclaim, which held the registry's lock
    /// before this reclaimer took it (the owner's install saw <c>Revoked == 0</c> after it).
    /// </remarks>
    public void Reclaim(ZcopyAllocator? allocator, out ZcopyAllocator? owner, out FolioSlice held, out DeferredRelease deferred)
    {
        ref ThreadSliceState s = ref *_state;

        // The owner's sections are a few instructions long (a message's pieces, for the batch calls); if it was
        // preempted inside one we wait for the scheduler to run it again, which SpinWait's yields and sleeps
        // allow.
        var wait = default(SpinWait);
        while (Volatile.Read(ref s.Busy) != 0)
        {
            wait.SpinOnce();
        }

        // Deferred references are taken whatever allocator asks: dropping them early is always allowed.
        deferred = s.Deferred.Detach();
        owner = _allocator;
        held = default;
        if (s.Slice.Entry != 0 && (allocator is null || ReferenceEquals(owner, allocator) || owner!.Owner.IsDisposed))
        {
            held = s.Slice.Detach();
            Volatile.Write(ref _allocator, null);
            s.AllocatorId = 0;
        }

        Volatile.Write(ref s.Revoked, 0);
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
    }

    /// <summary>Reclaimer only: keeps the owner out of its sections until <see cref="Reclaim"/> ends.</summary>
    public void Revoke()
    {
        Volatile.Write(ref _state->Revoked, 1);
        GC.KeepAlive(this); // the finalizer frees the block: see the remarks
    }

    /// <summary>Gives a detached or reclaimed slice back to its folio and counts its pieces in its allocator.</summary>
    public static void GiveBack(ZcopyAllocator? allocator, in FolioSlice held)
    {
        if (held.Entry != 0)
        {
            held.GiveBack(allocator!.Owner);
        }
    }
}
