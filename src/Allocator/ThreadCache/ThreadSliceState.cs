using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace NativeZcopy.ThreadCache;

/// <summary>
/// The hot fields of one thread's <see cref="ThreadSlice"/>, the ones its owner touches on every cut,
/// take-back and deferral, in a native block of their own.
/// </summary>
/// <remarks>
/// <para>
/// Why a native block: the hot paths (<see cref="ZcopyAllocator.Alloc"/>, TryAlloc, MemDup, AllocBatch,
/// <see cref="NativePages.Put(in BioVec)"/>, PutBatch) reach it through <see cref="ThreadSlice.State"/>, a thread static
/// that holds no GC reference, whose address is the TLS resolver's result plus a constant: the block is then
/// one load away. A <c>[ThreadStatic]</c> managed reference costs an initialization check and two dependent
/// loads before the first field (docs/benchmarks.md, steps 57 and 58). Every field here is unmanaged, which is
/// what lets them leave the managed object.
/// </para>
/// <para>
/// Why 128 bytes, 128-byte aligned: the owner stores to <see cref="Busy"/> on every call, and the
/// adjacent-line prefetcher moves 64-byte lines in aligned pairs, so a block that is a whole pair is the
/// thread's alone; sharing either line of its pair with another thread's data, it would move between
/// processors on every call as a shared line does. (The managed slice had an object padded to 256 bytes for
/// this, a free line on each side of its fields.) The cut and the take-back touch only the first line, a
/// deferral the second as well.
/// </para>
/// <para>
/// Why an id rather than the allocator: the GC neither scans nor updates native memory, so the block cannot
/// hold a reference. It holds <see cref="ZcopyAllocator.Id"/>, and <see cref="ThreadSlice"/> keeps the
/// reference, set and cleared with the id, for reclaimers, statistics and give-backs.
/// </para>
/// <para>
/// The owner is the thread whose <see cref="ThreadSlice.State"/> this block is. Who may write each field, the
/// handshake on <see cref="Busy"/> and <see cref="Revoked"/>, and when the block is freed are
/// <see cref="ThreadSlice"/>'s (its remarks).
/// </para>
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal struct ThreadSliceState
{
    /// <summary>Bytes of a block, and its alignment: one pair of cache lines.</summary>
    public const int Size = 128;

    /// <summary>Where <see cref="Busy"/> is.</summary>
    public const int BusyOffset = 0;

    /// <summary>Where <see cref="Revoked"/> is.</summary>
    public const int RevokedOffset = 4;

    /// <summary>Where <see cref="AllocatorId"/> is.</summary>
    public const int AllocatorIdOffset = 8;

    /// <summary>Where <see cref="Slice"/> is; it must end by <see cref="MissesOffset"/>.</summary>
    public const int SliceOffset = 16;

    /// <summary>Where <see cref="Misses"/> is.</summary>
    public const int MissesOffset = 56;

    /// <summary>Where <see cref="InstalledBytes"/> is.</summary>
    public const int InstalledBytesOffset = 60;

    /// <summary>Where <see cref="Deferred"/> is, the second line's start; it must end by <see cref="Size"/>.</summary>
    public const int DeferredOffset = 64;

    /// <summary>1 while the owner is inside a critical section. Written only by the owner (Volatile), and by tests' hooks.</summary>
    [FieldOffset(BusyOffset)]
    public int Busy;

    /// <summary>1 while a reclaimer is at work. Written only by reclaimers, which are serialized (Volatile).</summary>
    [FieldOffset(RevokedOffset)]
    public int Revoked;

    /// <summary>
    /// <see cref="ZcopyAllocator.Id"/> of the allocator the slice was cut from, or 0 when there is none.
    /// Owner-written inside a critical section, cleared by a reclaimer, each time together with
    /// <see cref="ThreadSlice.Allocator"/>; a cut compares it inside its section.
    /// </summary>
    [FieldOffset(AllocatorIdOffset)]
    public long AllocatorId;

    /// <summary>The slice and its share. Owner-written inside a section; cleared by a reclaimer.</summary>
    [FieldOffset(SliceOffset)]
    public FolioSlice Slice;

    /// <summary>Allocations from other allocators since the slice was installed. Owner only.</summary>
    [FieldOffset(MissesOffset)]
    public int Misses;

    /// <summary>
    /// Bytes of the slice last installed, which sizes the next one. Owner only; a reclaimer leaves it,
    /// since the slice it empties tells the owner to start small again.
    /// </summary>
    [FieldOffset(InstalledBytesOffset)]
    public int InstalledBytes;

    /// <summary>
    /// References released on another page life and not yet dropped from its count (see
    /// <see cref="DeferredRelease"/>). Owner-written inside a section; taken by a reclaimer.
    /// </summary>
    [FieldOffset(DeferredOffset)]
    public DeferredRelease Deferred;

    /// <summary>
    /// Owner only. Cuts a piece of <paramref name="fullSize"/> bytes (of which <paramref name="size"/> are
    /// the caller's) if the slice is the allocator's with <paramref name="allocatorId"/> and has room; false
    /// otherwise.
    /// </summary>
    // AggressiveOptimization on this and the take-back below: see ZcopyAllocator.Alloc.
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public bool TryCut(long allocatorId, int size, int fullSize, out BioVec piece)
    {
        // Branches rather than a bool carried through: the JIT then keeps the piece in registers.
        Volatile.Write(ref Busy, 1);
        if (Volatile.Read(ref Revoked) == 0 && AllocatorId == allocatorId && Slice.TryCut(size, fullSize, out piece))
        {
            Volatile.Write(ref Busy, 0);
            return true;
        }

        Volatile.Write(ref Busy, 0);
        piece = default;
        return false;
    }

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
        if (piece.Entry == Slice.Entry)
        {
            Volatile.Write(ref Busy, 1);
            if (Volatile.Read(ref Revoked) == 0 && Slice.TryTakeBack(piece, refs))
            {
                Volatile.Write(ref Busy, 0);
                return true;
            }

            Volatile.Write(ref Busy, 0);
        }

        return false;
    }

    /// <summary>
    /// Owner only. Cuts the leading pieces of <paramref name="sizes"/> into <paramref name="pieces"/> in one
    /// critical section, while each is at most <paramref name="maxSize"/> bytes and the slice is
    /// <paramref name="allocatorId"/>'s and has room; returns how many it cut (0 when a reclaimer is at work).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CutRun(long allocatorId, ReadOnlySpan<int> sizes, Span<BioVec> pieces, int maxSize, int alignmentMask)
    {
        // Bounded by both spans (FolioSlice.CutRun), so nothing in the section can throw: a throw would leave
        // Busy set and a reclaimer waiting for it forever.
        int cut = 0;
        Volatile.Write(ref Busy, 1);
        if (Volatile.Read(ref Revoked) == 0 && AllocatorId == allocatorId)
        {
            cut = Slice.CutRun(sizes, pieces, maxSize, alignmentMask);
        }

        Volatile.Write(ref Busy, 0);
        return cut;
    }

    /// <summary>
    /// Owner only. Takes back, in one critical section, the leading pieces of <paramref name="pieces"/> that
    /// were cut from this slice's folio life (one reference each, as <see cref="TryTakeBack"/>); returns how
    /// many it took (0 when a reclaimer is at work).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TakeBackRun(ReadOnlySpan<BioVec> pieces)
    {
        int taken = 0;

        // A hint outside the section, as in TryTakeBack, so a run of other memory pays no store; every piece is
        // checked again inside.
        if (pieces.Length != 0 && pieces[0].Entry == Slice.Entry)
        {
            Volatile.Write(ref Busy, 1);
            if (Volatile.Read(ref Revoked) == 0)
            {
                taken = Slice.TakeBackRun(pieces);
            }

            Volatile.Write(ref Busy, 0);
        }

        return taken;
    }

    /// <summary>
    /// Owner only. Adds <paramref name="refs"/> released references of <paramref name="piece"/> to the
    /// references deferred on its life if that is the life the thread is deferring; false otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryDefer(in BioVec piece, int refs) =>
        // The deferral's fields by value: a reference to the piece would make callers keep it in memory.
        // Deferred.Entry is read outside the section as a hint: a reclaimer may clear the deferral meanwhile,
        // and TryAdd checks the entry and page again inside it.
        piece.Entry == Deferred.Entry && TryAddDeferred(piece.Page, piece.Entry, refs);

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
        Volatile.Write(ref Busy, 1);
        if (Volatile.Read(ref Revoked) == 0 && Deferred.TryAdd(page, entry, refs))
        {
            if (Deferred.HoldsEveryRef())
            {
                DropFinalDeferred();
                return true;
            }

            Volatile.Write(ref Busy, 0);
            return true;
        }

        Volatile.Write(ref Busy, 0);
        return false;
    }

    /// <summary>
    /// Owner only, inside a section, when the deferral holds every reference its life has left: ends the
    /// section and drops them, outside it since the final release may unmap.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DropFinalDeferred()
    {
        DeferredRelease last = Deferred.Detach();
        Volatile.Write(ref Busy, 0);
        last.Drop();
    }
}
