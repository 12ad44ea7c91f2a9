using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NativeZcopy.SideTable;

namespace NativeZcopy.Arenas;

/// <summary>
/// One processor's arena: a current folio it breaks pieces off in order, a spare, and the spin lock that
/// guards both. The zcopy_alloc of the seed, with the kernel's page_frag bias accounting.
/// </summary>
/// <remarks>
/// <para>
/// <b>Layout.</b> Arenas live side by side in one array, so each is 192 bytes with its fields from byte 64
/// to 132: two arenas' fields are always at least 64 bytes apart and never share a cache line.
/// </para>
/// <para>
/// <b>Ownership.</b> Every field except the spin lock word is owned by whoever holds the spin lock; the
/// lock word itself is touched only with <see cref="Interlocked"/> and <see cref="Volatile"/>. Statistics
/// readers read the two counters without the lock, so the holder writes them with <see cref="Volatile"/>
/// (see <see cref="CountFragments"/>).
/// </para>
/// <para>
/// <b>Bias.</b> A folio is registered with <see cref="FolioOwner.FullShare"/> refs, all the arena's. Each
/// piece moves one of them from the arena to the piece by decrementing <see cref="_bias"/>, a plain field:
/// no atomic operation per piece. The arena gives back what is left of its share when it lets the folio
/// go; if that takes the count to zero, every piece was already released, and the arena reissues the same
/// folio in place instead of unmapping it and mapping another.
/// </para>
/// <para>
/// <b>No system call under the lock.</b> A fresh folio is mapped after the lock is dropped; a folio that
/// must be unmapped is given back after it is dropped. Under the lock there are only plain field writes,
/// one or two interlocked adds per folio change (the current folio's share and the parked one's) and, when
/// a folio is reissued in place, the rewrite of its side-table slots.
/// </para>
/// <para>
/// <b>The parked folio.</b> The arena lets its current folio go when the next piece does not fit in it;
/// if pieces still hold it then (a message whose header was cut from its end, a batch another thread is
/// releasing), giving the arena's share back would leave it to them, and with the default policy the last
/// of them would unmap it while the arena maps another. So the arena parks it instead, with its share. The
/// parked folio is looked at again when the arena next lets a folio go that pieces still hold, or finds
/// itself with no current folio (a map failed): if its pieces are back by then, the count drops to zero
/// under the lock and it is reissued in place as the current folio; if not, it is left to its pieces as
/// before. One folio is parked at most. While the current folio keeps being reissued in place, a parked
/// folio whose pieces are all back stays mapped, one per arena, until Trim unmaps it or Dispose gives its
/// share back. A user's last Put on a parked folio does not unmap it, as on the current folio: the arena's
/// share still holds it; and as there, a piece released twice is not caught (fragment tracking catches it).
/// </para>
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct Arena
{
    /// <summary>0 when free, 1 when held.</summary>
    [FieldOffset(64)]
    private int _spinLock;

    /// <summary>Bytes of the current folio already handed out.</summary>
    [FieldOffset(68)]
    private int _used;

    /// <summary>The current folio's size, or 0 when there is none, so one comparison says "it fits".</summary>
    [FieldOffset(72)]
    private int _limit;

    /// <summary>References on the current folio that are still the arena's own.</summary>
    [FieldOffset(76)]
    private int _bias;

    /// <summary>Base address of the current folio, or 0.</summary>
    [FieldOffset(80)]
    private nint _folio;

    /// <summary>Side-table entry of the current folio, or 0.</summary>
    [FieldOffset(88)]
    private long _folioEntry;

    /// <summary>Side-table entry of the spare folio (holding its full share), or 0.</summary>
    [FieldOffset(96)]
    private long _spareEntry;

    /// <summary>Pieces handed out by this arena.</summary>
    [FieldOffset(104)]
    private long _fragmentsAllocated;

    /// <summary>Folios this arena reissued in place.</summary>
    [FieldOffset(112)]
    private long _reusedInPlace;

    /// <summary>Side-table entry of the parked folio (full, still referenced when it was let go), or 0.</summary>
    [FieldOffset(120)]
    private long _parkedEntry;

    /// <summary>References on the parked folio that are still the arena's own.</summary>
    [FieldOffset(128)]
    private int _parkedBias;

    /// <summary>Pieces handed out by this arena.</summary>
    public readonly long FragmentsAllocated => Volatile.Read(in _fragmentsAllocated);

    /// <summary>Folios this arena reissued in place.</summary>
    public readonly long ReusedInPlace => Volatile.Read(in _reusedInPlace);

    /// <summary>Lock holder only. Counts <paramref name="count"/> more pieces handed out.</summary>
    /// <remarks>
    /// A volatile write, though only the lock holder writes: a statistics reader reads without the lock, and in
    /// a 32-bit process a plain 64-bit store is two stores, so a read between them could see the count 2^32 off,
    /// which the reported totals (kept at their highest, see ZcopyAllocator.GetStatistics) would then keep. On
    /// x64 this is the same plain store; in a 32-bit process it is one atomic store.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountFragments(long count) => Volatile.Write(ref _fragmentsAllocated, _fragmentsAllocated + count);

    /// <summary>
    /// Breaks <paramref name="size"/> bytes (rounded to <paramref name="fullSize"/>) off the current folio,
    /// getting another one if needed. Returns false only when the OS refused a folio and
    /// <paramref name="throwOnFailure"/> is false.
    /// </summary>
    /// <exception cref="OutOfMemoryException">The OS refused a folio and <paramref name="throwOnFailure"/> is true.</exception>
    /// <exception cref="ObjectDisposedException">The allocator was disposed.</exception>
    /// <remarks>Entered with the lock held (<see cref="TryEnter"/> or <see cref="Enter"/>); returns with it released.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAllocLocked(int size, int fullSize, FolioOwner owner, bool throwOnFailure, out BioVec piece)
    {
        int used = _used;
        if (_limit - used >= fullSize)
        {
            long entry = _folioEntry;
            piece = new BioVec(_folio, used, size, entry);
            _used = used + fullSize;
            _bias--;
            CountFragments(1);
            Exit();
            if (PageSideTable.IsTracked(entry))
            {
                RecordCarved(owner, piece); // diagnostics hook: a tracked folio life records its pieces
            }

            return true;
        }

        return TryAllocSlow(size, fullSize, owner, throwOnFailure, out piece);
    }

    /// <summary>
    /// Breaks off a thread's or a local cache's slice: <paramref name="size"/> bytes, or all that is left of
    /// the current folio when that is less but at least <paramref name="minimum"/>, so a folio's tail goes to
    /// a slice instead of being skipped when a larger slice does not fit. The caller's old slice, if it was
    /// cut from this arena's current folio life (<paramref name="oldEntry"/>), is taken back with it:
    /// <paramref name="tookOld"/> then says the caller holds nothing more of it; otherwise the caller gives its
    /// <paramref name="oldShare"/> back itself, after the lock.
    /// </summary>
    /// <exception cref="OutOfMemoryException">The OS refused a folio.</exception>
    /// <exception cref="ObjectDisposedException">The allocator was disposed.</exception>
    /// <remarks>Entered with the lock held; returns with it released. Both sizes are multiples of the
    /// alignment, and so is what is left of a folio, since every piece is cut to a multiple of it.</remarks>
    public BioVec AllocSliceLocked(int minimum, int size, FolioOwner owner, long oldEntry, int oldShare, int oldPieces, out bool tookOld)
    {
        // The caller's old slice (oldEntry, 0 if none), when it is of this folio life: its share is references
        // the lock holder may move into the bias like any other, since the shared count already holds them,
        // and the pieces cut from it, counted as one so far, join this arena's count. No atomic operation.
        // Bound: a share taken back stays in the count, and the next slice adds its own, so over one folio
        // life the count (and the bias) can reach FullShare + FolioSize / Alignment, about twice FullShare,
        // where giving shares back kept it near FullShare. Slices are only cut from folios of at most 2^29
        // aligned bytes (ZcopyAllocator.MaxSlicedAlignedBytes), so that bound is at most 2^30 + 1.
        tookOld = oldEntry != 0 && oldEntry == _folioEntry;
        if (tookOld)
        {
            _bias += oldShare;
            CountFragments(oldPieces - 1);
        }

        int left = _limit - _used;
        if (left < size && left >= minimum)
        {
            size = left;
        }

        TryAllocLocked(size, size, owner, throwOnFailure: true, out BioVec slice);
        return slice;
    }

    /// <summary>
    /// Breaks off as many pieces of <paramref name="sizes"/> as the current folio fits under one lock
    /// acquisition, writing them to <paramref name="pieces"/>. Returns how many it cut (possibly 0); the
    /// caller takes the rest one at a time, which moves to the next folio.
    /// </summary>
    /// <remarks>Entered with the lock held; returns with it released.</remarks>
    public int CarveRunLocked(ReadOnlySpan<int> sizes, int alignmentMask, FolioOwner owner, Span<BioVec> pieces)
    {
        int used = _used;
        int limit = _limit;
        long entry = _folioEntry;
        int count = 0;
        for (; count < sizes.Length; count++)
        {
            int size = sizes[count];
            int fullSize = (size + alignmentMask) & ~alignmentMask;
            if (limit - used < fullSize)
            {
                break;
            }

            pieces[count] = new BioVec(_folio, used, size, entry);
            used += fullSize;
        }

        _used = used;
        _bias -= count;
        CountFragments(count);
        Exit();
        if (PageSideTable.IsTracked(entry))
        {
            RecordCarvedRun(owner, pieces[..count]); // diagnostics hook, as in TryAlloc
        }

        return count;
    }

    /// <summary>
    /// Diagnostics hook: records a piece cut from a tracked folio life. If the record cannot be made (out of
    /// memory), the piece's reference is given back before the failure reaches the caller: the caller never
    /// sees the piece, and a tracked Put would refuse a piece the tracker does not know.
    /// </summary>
    /// <param name="owner">The folios' owner, whose tracker records the piece.</param>
    /// <param name="piece">The piece just cut.</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RecordCarved(FolioOwner owner, in BioVec piece)
    {
        try
        {
            owner.Tracker!.OnCarved(piece);
        }
        catch
        {
            FolioOwner.ReleaseShare(piece.Entry, 1); // never throws: a final release unmaps, or keeps the folio for a retry
            throw;
        }
    }

    /// <summary>
    /// <see cref="RecordCarved"/> for a run of pieces: if one cannot be recorded, the pieces recorded before
    /// it are released through the tracker and the others give their references back, so the caller, which
    /// never sees any of them, loses nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RecordCarvedRun(FolioOwner owner, Span<BioVec> pieces)
    {
        int recorded = 0;
        try
        {
            for (; recorded < pieces.Length; recorded++)
            {
                RecordCarved(owner, pieces[recorded]);
            }
        }
        catch
        {
            for (int i = recorded + 1; i < pieces.Length; i++)
            {
                FolioOwner.ReleaseShare(pieces[i].Entry, 1);
            }

            NativePages.PutBatchToleratingRefusedUnmap(pieces[..recorded]); // the record's failure is the news
            throw;
        }
    }

    /// <summary>
    /// The current folio cannot fit the piece. Entered with the lock held; returns with it released.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryAllocSlow(int size, int fullSize, FolioOwner owner, bool throwOnFailure, out BioVec piece)
    {
        // The callers' bound (pieces up to half a folio, slices up to a whole one), checked where it costs the fast
        // path nothing: a larger piece fits no folio, and the loop below would start folios over for it forever,
        // under the lock (a mutant that let a slice outgrow the folio hung the suite rather than failing it).
        if (fullSize > owner.FolioSize)
        {
            Exit();
            throw new InvalidOperationException($"Internal error: a {fullSize}-byte piece fits no {owner.FolioSize}-byte folio.");
        }

        // A folio this thread mapped outside the lock and has not installed yet: it holds its full share.
        long fresh = 0;
        while (true)
        {
            if (_limit - _used >= fullSize)
            {
                // Another thread on this arena installed a folio while we were mapping ours: keep ours as
                // the spare if the slot is free (the seed's move), else give it back after unlocking.
                if (fresh != 0 && _spareEntry == 0)
                {
                    _spareEntry = fresh;
                    fresh = 0;
                }

                long entry = _folioEntry;
                piece = new BioVec(_folio, _used, size, entry);
                _used += fullSize;
                _bias--;
                CountFragments(1);
                Exit();
                if (fresh != 0)
                {
                    FolioOwner.ReleaseShare(fresh, owner.FullShare); // before the hook, which may throw
                }

                if (PageSideTable.IsTracked(entry))
                {
                    RecordCarved(owner, piece); // diagnostics hook, as in TryAlloc
                }

                return true;
            }

            if (_folioEntry != 0 && RetireCurrent(owner))
            {
                continue; // every piece was already back: the same folio, or the parked one, starts over
            }

            if (_folioEntry == 0 && TryReissueFreeParked(owner))
            {
                continue; // no current folio (a map failed before): the parked one, all its pieces back
            }

            if (owner.IsDisposed)
            {
                Exit();
                if (fresh != 0)
                {
                    FolioOwner.ReleaseShare(fresh, owner.FullShare);
                }

                throw new ObjectDisposedException(typeof(ZcopyAllocator).FullName);
            }

            if (_spareEntry != 0)
            {
                Adopt(_spareEntry, owner);
                _spareEntry = 0;
                continue;
            }

            if (fresh != 0)
            {
                Adopt(fresh, owner);
                fresh = 0;
                continue;
            }

            long retained = owner.TryTakeRetained(Thread.GetCurrentProcessorId());
            if (retained != 0)
            {
                Adopt(retained, owner);
                continue;
            }

            Exit();
            fresh = owner.TryMapFolio(out int error);
            if (fresh == 0)
            {
                if (throwOnFailure)
                {
                    throw owner.MapFailure(error);
                }

                piece = default;
                return false;
            }

            Enter();
        }
    }

    /// <summary>
    /// Lets the full current folio go. If every piece is back, reissues it in place. Otherwise parks it (see
    /// the remarks) and first retires the folio parked before it: if that one's pieces are all back, it is
    /// reissued and becomes the current folio. Returns true when there is a current folio again. Lock held.
    /// </summary>
    private bool RetireCurrent(FolioOwner owner)
    {
        long entry = _folioEntry;

        // A plain read decides between retiring and parking: while the arena holds its share the count
        // cannot drop below it, and a stale read only parks a folio that is in fact free, which a later
        // change reissues. If it says free but a Get raced in (only a stale piece can do that), the share
        // is given back all the same and the folio is left to that piece.
        bool free = HoldsOnlyArenaShare(entry, _bias);
        if (free && TryReissue(entry, _bias, owner))
        {
            return true;
        }

        long parked = _parkedEntry;
        int parkedBias = _parkedBias;
        _parkedEntry = free ? 0 : entry;
        _parkedBias = free ? 0 : _bias;
        _folio = 0;
        _folioEntry = 0;
        _limit = 0;
        _used = 0;
        _bias = 0;
        return parked != 0 && TryReissue(parked, parkedBias, owner);
    }

    /// <summary>
    /// With no current folio, reissues the parked folio as the current one if the arena's share is all its
    /// count (a plain read, as in <see cref="RetireCurrent"/>), instead of mapping another. Lock held.
    /// </summary>
    private bool TryReissueFreeParked(FolioOwner owner)
    {
        long parked = _parkedEntry;
        int bias = _parkedBias;
        if (parked == 0 || !HoldsOnlyArenaShare(parked, bias))
        {
            return false;
        }

        _parkedEntry = 0;
        _parkedBias = 0;
        return TryReissue(parked, bias, owner);
    }

    /// <summary>
    /// True when the arena's <paramref name="bias"/> is all of the folio's count: no piece, slice or deferred
    /// release holds it. A plain read; while the arena holds its share the count cannot drop below it.
    /// </summary>
    private static bool HoldsOnlyArenaShare(long entry, int bias) =>
        PageSideTable.CountOfState(Volatile.Read(ref PageSideTable.Run(entry).State)) == bias;

    /// <summary>
    /// Gives back the arena's <paramref name="bias"/> on a folio it lets go. If that was the last reference,
    /// reissues the folio in place as the current one and returns true; otherwise pieces still hold it, it is
    /// theirs now, and the last Put unmaps it (or the owner retains it). Lock held.
    /// </summary>
    private bool TryReissue(long entry, int bias, FolioOwner owner)
    {
        // Never below zero and never on another life (PageSideTable.Drop): a piece released twice may have
        // taken some of the bias, and then the bias is the rest of the count, not more.
        int dropped = PageSideTable.Drop(entry, bias, partial: true, out long seen);
        if (dropped == 0 || PageSideTable.CountOfState(seen) != dropped)
        {
            return false;
        }

        if (PageSideTable.IsLastLife(entry))
        {
            // Bytes of this life may still be read by the kernel (a zero-copy send abandoned at a socket's
            // close), or its generation is the last: not reissued, but unmapped, after the lock, by the
            // owner's next retry of pending unmaps.
            owner.UnmapLater(entry);
            return false;
        }

        // No piece of this folio is referenced any more, so nobody else can reach its state: give it a new
        // generation (stale pieces of its last life are refused from now on) and start over. If the
        // allocator is being disposed, Drain runs after us on this lock and gives the folio back.
        Adopt(PageSideTable.Reissue(entry, owner.FullShare, owner.SampleNextLife()), owner);
        Volatile.Write(ref _reusedInPlace, _reusedInPlace + 1); // see CountFragments
        return true;
    }

    /// <summary>Makes a folio holding its full share the current one. Lock held.</summary>
    private void Adopt(long entry, FolioOwner owner)
    {
        _folioEntry = entry;
        _folio = PageSideTable.Run(entry).Base;
        _limit = owner.FolioSize;
        _used = 0;
        _bias = owner.FullShare;
    }

    /// <summary>
    /// Empties the arena for <see cref="ZcopyAllocator.Dispose"/> and gives back its shares on the current,
    /// spare and parked folios; folios still referenced by pieces stay mapped until their last Put.
    /// </summary>
    public void Drain(FolioOwner owner)
    {
        Enter();
        long current = _folioEntry;
        int bias = _bias;
        long spare = _spareEntry;
        long parked = _parkedEntry;
        int parkedBias = _parkedBias;
        _folio = 0;
        _folioEntry = 0;
        _limit = 0;
        _used = 0;
        _bias = 0;
        _spareEntry = 0;
        _parkedEntry = 0;
        _parkedBias = 0;
        Exit();

        try
        {
            if (current != 0)
            {
                FolioOwner.ReleaseShare(current, bias);
            }
        }
        finally
        {
            try
            {
                if (spare != 0)
                {
                    FolioOwner.ReleaseShare(spare, owner.FullShare);
                }
            }
            finally
            {
                if (parked != 0)
                {
                    FolioOwner.ReleaseShare(parked, parkedBias);
                }
            }
        }
    }

    /// <summary>
    /// Takes the parked folio out of the arena, for Trim, with the arena's share on it in
    /// <paramref name="bias"/>; the caller gives that share back. 0 if none.
    /// </summary>
    public long TakeParked(out int bias)
    {
        Enter();
        long parked = _parkedEntry;
        bias = _parkedBias;
        _parkedEntry = 0;
        _parkedBias = 0;
        Exit();
        return parked;
    }

    /// <summary>Takes the spare out of the arena, for Trim; the caller then holds its full share. 0 if none.</summary>
    public long TakeSpare()
    {
        Enter();
        long spare = _spareEntry;
        _spareEntry = 0;
        Exit();
        return spare;
    }

    /// <summary>Takes the spin lock if it is free, without waiting.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter() => Interlocked.Exchange(ref _spinLock, 1) == 0;

    /// <summary>Takes the spin lock, spinning while another thread holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        // A plain exchange (test-and-set) is the cheapest locked instruction for an uncontended acquire.
        if (Interlocked.Exchange(ref _spinLock, 1) != 0)
        {
            EnterContended();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
        // Holders never block or make system calls, so a waiter spins, then yields its core to a holder
        // that was preempted; it never sleeps a whole timer tick (sleep1Threshold: -1).
        SpinWait spinner = default;
        do
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        while (Volatile.Read(ref _spinLock) != 0 || Interlocked.Exchange(ref _spinLock, 1) != 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Exit() => Volatile.Write(ref _spinLock, 0);
}
