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
/// Ownership. The owner thread (the one whose <see cref="t_current"/> this is) is the only one that cuts,
/// takes back or installs. Another thread may <b>reclaim</b> the slice (<see cref="ZcopyAllocator.Trim"/>,
/// <see cref="ZcopyAllocator.Dispose"/>, or a thread that died holding one) to give its share back, since an
/// idle thread would otherwise keep its folio mapped forever. The two meet through an asymmetric handshake
/// on <see cref="_busy"/> and <see cref="_revoked"/>, so the owner's side stays free of locked instructions:
/// </para>
/// <list type="number">
/// <item>The owner stores <c>_busy = 1</c>, then loads <c>_revoked</c>; only if it is 0 does it touch the
/// slice fields, and it ends with a releasing store <c>_busy = 0</c>.</item>
/// <item>The reclaimer stores <c>_revoked = 1</c>, runs <see cref="Interlocked.MemoryBarrierProcessWide"/>
/// (membarrier on Linux, FlushProcessWriteBuffers on Windows: every running thread passes a full fence),
/// then waits until it loads <c>_busy == 0</c>. Now the owner is outside its critical section and any
/// section it starts will load <c>_revoked == 1</c> and keep out: the process-wide barrier orders the
/// owner's store of <c>_busy</c> before its load of <c>_revoked</c> as a full fence would, so either the
/// reclaimer sees <c>_busy == 1</c> and waits, or the owner sees <c>_revoked == 1</c>.</item>
/// <item>The reclaimer detaches the slice (clears its fields) and releases with <c>_revoked = 0</c>; the
/// owner's next acquiring load of <c>_revoked</c> sees the cleared fields and takes a new slice. The detached
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
/// </remarks>
[StructLayout(LayoutKind.Explicit)]
internal sealed class ThreadSlice
{
    // Layout: the fields sit from byte 64 to 160 of an object padded to 256 bytes (explicit layout, since
    // the runtime lays out classes with references as it likes). Slices of threads created together are
    // allocated side by side, and the owner stores to _busy on every call: without a free cache line on
    // each side, two threads' slices would share one and every call would bounce it between processors.

    /// <summary>The calling thread's slice, or null before its first allocation.</summary>
    [ThreadStatic]
    private static ThreadSlice? t_current;

    /// <summary>The thread that owns this slice; a reclaimer checks it to prune slices of dead threads.</summary>
    [FieldOffset(64)]
    private readonly Thread _thread;

    /// <summary>1 while the owner is inside a critical section. Written only by the owner (Volatile).</summary>
    [FieldOffset(120)]
    private int _busy;

    /// <summary>1 while a reclaimer is at work. Written only by reclaimers, which are serialized (Volatile).</summary>
    [FieldOffset(124)]
    private int _revoked;

    /// <summary>
    /// The allocator the slice was cut from, or null when there is none. Owner-written inside a critical
    /// section; cleared by a reclaimer; read outside a section only as a hint.
    /// </summary>
    [FieldOffset(72)]
    private ZcopyAllocator? _allocator;

    /// <summary>The slice and its share. Owner-written inside a section; cleared by a reclaimer.</summary>
    [FieldOffset(80)]
    private FolioSlice _slice;

    /// <summary>Allocations from other allocators since the slice was installed. Owner only.</summary>
    [FieldOffset(128)]
    private int _misses;

    /// <summary>
    /// Bytes of the slice last installed, which sizes the next one. Owner only; a reclaimer leaves it,
    /// since the slice it empties tells the owner to start small again.
    /// </summary>
    [FieldOffset(132)]
    private int _installedBytes;

    /// <summary>
    /// A thread allocating from two allocators keeps its slice with the first until it has allocated this
    /// many pieces from others: 64 is one slice's worth of 128 B pieces, so a thread that moved to another
    /// allocator takes the slice over soon, while one alternating between two pays a slice change (a lock
    /// and three atomic adds) at most once per 64 pieces, not once per piece.
    /// </summary>
    private const int MissesBeforeYield = 64;

    /// <summary>
    /// References released on another page life and not yet dropped from its count (see
    /// <see cref="DeferredRelease"/>). Owner-written inside a section; taken by a reclaimer.
    /// </summary>
    [FieldOffset(136)]
    private DeferredRelease _deferred;

    /// <summary>Keeps the next object off the fields' cache lines (see the layout note above).</summary>
    [FieldOffset(192)]
    private PaddingLine _paddingAfter;

    private ThreadSlice(Thread thread) => _thread = thread;

    /// <summary>The calling thread's slice, or null before the thread's first allocation.</summary>
    public static ThreadSlice? Current
    {
        // AggressiveOptimization on this and the cut and take-back below: see ZcopyAllocator.Alloc.
        [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
        get => t_current;
    }

    /// <summary>The allocator this slice was cut from, as last seen: a hint, checked again inside the section.</summary>
    public ZcopyAllocator? Allocator => _allocator;

    /// <summary>The thread that owns the slice.</summary>
    public Thread Thread => _thread;

    /// <summary>Owner only: bytes of the slice last installed.</summary>
    public int InstalledBytes => _installedBytes;

    /// <summary>Pieces cut from the current slice so far, for statistics (a racy but atomic read).</summary>
    public int PiecesCut => Volatile.Read(ref _slice.Cut);

    /// <summary>The calling thread's slice, created and registered on first use.</summary>
    public static ThreadSlice ForCurrentThread()
    {
        ThreadSlice? slice = t_current;
        if (slice is null)
        {
            slice = new ThreadSlice(Thread.CurrentThread);
            ThreadSliceRegistry.Add(slice);
            t_current = slice;
        }

        return slice;
    }

    /// <summary>
    /// Owner only. Cuts a piece of <paramref name="fullSize"/> bytes (of which <paramref name="size"/> are
    /// the caller's) if the slice is <paramref name="allocator"/>'s and has room; false otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public bool TryCut(ZcopyAllocator allocator, int size, int fullSize, out BioVec piece)
    {
        // Branches rather than a bool carried through: the JIT then keeps the piece in registers.
        Volatile.Write(ref _busy, 1);
        if (Volatile.Read(ref _revoked) == 0 && _allocator == allocator && _slice.TryCut(size, fullSize, out piece))
        {
            Volatile.Write(ref _busy, 0);
            return true;
        }

        Volatile.Write(ref _busy, 0);
        piece = default;
        return false;
    }

    /// <summary>
    /// Owner only. Cuts the leading pieces of <paramref name="sizes"/> into <paramref name="pieces"/> in one
    /// critical section, while each is at most <paramref name="maxSize"/> bytes and the slice is
    /// <paramref name="allocator"/>'s and has room; returns how many it cut (0 when a reclaimer is at work).
    /// </summary>
    public int CutRun(ZcopyAllocator allocator, ReadOnlySpan<int> sizes, Span<BioVec> pieces, int maxSize, int alignmentMask)
    {
        // Bounded by both spans, so nothing in the section can throw: a throw would leave _busy set and a
        // reclaimer waiting for it forever.
        int count = Math.Min(sizes.Length, pieces.Length);
        int cut = 0;
        Volatile.Write(ref _busy, 1);
        if (Volatile.Read(ref _revoked) == 0 && _allocator == allocator)
        {
            for (; cut < count; cut++)
            {
                int size = sizes[cut];
                if ((uint)(size - 1) >= (uint)maxSize || !_slice.TryCut(size, (size + alignmentMask) & ~alignmentMask, out pieces[cut]))
                {
                    break;
                }
            }
        }

        Volatile.Write(ref _busy, 0);
        return cut;
    }

    /// <summary>
    /// Owner only. Takes back, in one critical section, the leading pieces of <paramref name="pieces"/> that
    /// were cut from this slice's folio life (one reference each, as <see cref="TryTakeBack"/>); returns how
    /// many it took (0 when a reclaimer is at work).
    /// </summary>
    public int TakeBackRun(ReadOnlySpan<BioVec> pieces)
    {
        int taken = 0;

        // A hint outside the section, as in TryTakeBack, so a run of other memory pays no store; every piece is
        // checked again inside.
        if (pieces.Length != 0 && pieces[0].Entry == _slice.Entry)
        {
            Volatile.Write(ref _busy, 1);
            if (Volatile.Read(ref _revoked) == 0)
            {
                while (taken < pieces.Length && _slice.TryTakeBack(pieces[taken], 1))
                {
                    taken++;
                }
            }

            Volatile.Write(ref _busy, 0);
        }

        return taken;
    }

    /// <summary>
    /// Owner only. Takes <paramref name="refs"/> released references of <paramref name="piece"/> back into
    /// the slice's share if the piece was cut from this slice's folio life (<see cref="TryTakeBack"/>), or
    /// adds them to the references deferred on its life (<see cref="TryDefer"/>); false otherwise (the
    /// caller then goes through <see cref="Defer"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRelease(in BioVec piece, int refs) => TryTakeBack(piece, refs) || TryDefer(piece, refs);

    /// <summary>
    /// Owner only. Takes <paramref name="refs"/> released references of <paramref name="piece"/> back into
    /// the slice's share if the piece was cut from this slice's folio life; false otherwise.
    /// </summary>
    /// <remarks>
    /// A piece duplicated with <see cref="NativePages.Get(in BioVec)"/> may come back here twice: its extra
    /// reference was added to the shared count, so the share grows by one more than it gave, and the
    /// difference leaves the count when the share is given back or grows past twice what it was installed
    /// with (<see cref="FolioSlice.Limit"/>). Nothing is ever cut again from the bytes
    /// of a taken-back piece: the slice only moves forward, and only the arena, which sees the shared
    /// count, starts a folio over.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public bool TryTakeBack(in BioVec piece, int refs)
    {
        // A hint outside the section, so releases of other memory pay no store.
        if (piece.Entry == _slice.Entry)
        {
            Volatile.Write(ref _busy, 1);
            if (Volatile.Read(ref _revoked) == 0 && _slice.TryTakeBack(piece, refs))
            {
                Volatile.Write(ref _busy, 0);
                return true;
            }

            Volatile.Write(ref _busy, 0);
        }

        return false;
    }

    /// <summary>
    /// Owner only. Adds <paramref name="refs"/> released references of <paramref name="piece"/> to the
    /// references deferred on its life if that is the life the thread is deferring; false otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryDefer(in BioVec piece, int refs) =>
        // The deferral's fields by value: a reference to the piece would make callers keep it in memory.
        piece.Entry == _deferred.Entry && TryAddDeferred(piece.Page, piece.Entry, refs);

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
        var now = new DeferredRelease { Page = page, Entry = entry, Refs = refs };
        DeferredRelease ended = default;
        Volatile.Write(ref _busy, 1);

        // No deferral starts on a disposed allocator's folio: Dispose reclaimed every deferral once, and nothing
        // would reclaim a later one, so two threads deferring the last references of a folio would keep it
        // mapped until each released something else. Read inside the section, after _revoked: Dispose marks the
        // allocator before it revokes, so a section its reclaim does not wait for sees the mark (the handshake
        // above), and one it waits for has its deferral reclaimed. The caller's refs keep the life, and so the
        // descriptor's owner, in place.
        if (Volatile.Read(ref _revoked) == 0 && PageSideTable.Run(entry).Owner is not FolioOwner { IsDisposed: true })
        {
            if (_deferred.Entry == entry && _deferred.Page == page)
            {
                _deferred.Refs += refs;
            }
            else
            {
                ended = _deferred;
                _deferred = now;
            }

            now = _deferred.HoldsEveryRef() ? _deferred.Detach() : default;
        }

        Volatile.Write(ref _busy, 0);
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
    public int DeferredRefsOn(long entry) => _deferred.Entry == entry ? _deferred.Refs : 0;

    /// <summary>
    /// Drops the references the calling thread deferred, if any: before it enters an arena, whose folio
    /// they may be keeping from being reissued in place. Never throws, since allocating calls it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DropDeferredOfCurrentThread()
    {
        if (t_current is { } slice && slice._deferred.Entry != 0)
        {
            slice.DropDeferred();
        }
    }

    /// <summary>Owner only: ends the deferral and drops its references, outside the section.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DropDeferred()
    {
        Volatile.Write(ref _busy, 1);
        DeferredRelease held = Volatile.Read(ref _revoked) == 0 ? _deferred.Detach() : default;
        Volatile.Write(ref _busy, 0);
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

    /// <summary>Owner only: <see cref="TryDefer"/> for a piece of the deferred life.</summary>
    /// <remarks>
    /// Every release of a run but the first and the last comes here, so the final drop is out of line: this
    /// path then needs no callee-saved register, and costs no pushes and pops. Inlined into
    /// <see cref="NativePages"/>' one out-of-line fallback of Put, so a release on another thread costs one
    /// call, which saves no callee-saved register either (its disassembly pushes only rbp).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryAddDeferred(nint page, long entry, int refs)
    {
        Volatile.Write(ref _busy, 1);
        if (Volatile.Read(ref _revoked) == 0 && _deferred.TryAdd(page, entry, refs))
        {
            if (_deferred.HoldsEveryRef())
            {
                DropFinalDeferred();
                return true;
            }

            Volatile.Write(ref _busy, 0);
            return true;
        }

        Volatile.Write(ref _busy, 0);
        return false;
    }

    /// <summary>
    /// Owner only, inside a section, when the deferral holds every reference its life has left: ends the
    /// section and drops them, outside it since the final release may unmap.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DropFinalDeferred()
    {
        DeferredRelease last = _deferred.Detach();
        Volatile.Write(ref _busy, 0);
        last.Drop();
    }

    /// <summary>
    /// Owner only. Called when another allocator than the slice's wants a piece: true when the slice should
    /// be given up to it (see <see cref="MissesBeforeYield"/>).
    /// </summary>
    public bool CountMiss() => ++_misses > MissesBeforeYield;

    /// <summary>
    /// Owner only. Makes <paramref name="slice"/> (a piece just taken from <paramref name="allocator"/>,
    /// holding one reference) the current slice, and cuts the first piece from it. Returns false, with nothing changed, when
    /// a reclaimer is at work; the caller then keeps the slice piece. The previous slice must have been
    /// given back with <see cref="TryDetach"/>.
    /// </summary>
    public bool TryInstall(ZcopyAllocator allocator, in BioVec slice, int size, int fullSize, out BioVec piece)
    {
        piece = default;
        Volatile.Write(ref _busy, 1);
        bool installed = Volatile.Read(ref _revoked) == 0 && _slice.Entry == 0;
        if (installed)
        {
            _allocator = allocator;
            _misses = 0;
            _installedBytes = slice.Length;
            piece = _slice.Install(slice, allocator.Alignment, size, fullSize);
        }

        Volatile.Write(ref _busy, 0);
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
        Volatile.Write(ref _busy, 1);
        bool detached = Volatile.Read(ref _revoked) == 0;
        allocator = detached ? _allocator : null;
        held = detached ? _slice.Detach() : default;
        if (detached)
        {
            _allocator = null;
        }

        Volatile.Write(ref _busy, 0);
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
    /// before this reclaimer took it (the owner's install saw <c>_revoked == 0</c> after it).
    /// </remarks>
    public void Reclaim(ZcopyAllocator? allocator, out ZcopyAllocator? owner, out FolioSlice held, out DeferredRelease deferred)
    {
        // The owner's sections are a few instructions long (a message's pieces, for the batch calls); if it was
        // preempted inside one we wait for the
        // scheduler to run it again, which SpinWait's yields and sleeps allow.
        var wait = default(SpinWait);
        while (Volatile.Read(ref _busy) != 0)
        {
            wait.SpinOnce();
        }

        // Deferred references are taken whatever allocator asks: dropping them early is always allowed.
        deferred = _deferred.Detach();
        owner = _allocator;
        held = default;
        if (_slice.Entry != 0 && (allocator is null || ReferenceEquals(owner, allocator) || owner!.Owner.IsDisposed))
        {
            held = _slice.Detach();
            _allocator = null;
        }

        Volatile.Write(ref _revoked, 0);
    }

    /// <summary>Reclaimer only: keeps the owner out of its sections until <see cref="Reclaim"/> ends.</summary>
    public void Revoke() => Volatile.Write(ref _revoked, 1);

    /// <summary>Gives a detached or reclaimed slice back to its folio and counts its pieces in its allocator.</summary>
    public static void GiveBack(ZcopyAllocator? allocator, in FolioSlice held)
    {
        if (held.Entry != 0)
        {
            held.GiveBack(allocator!.Owner);
        }
    }
}
