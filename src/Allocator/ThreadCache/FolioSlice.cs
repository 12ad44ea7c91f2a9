using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Arenas;
using NativeZcopy.SideTable;

namespace NativeZcopy.ThreadCache;

/// <summary>
/// A slice of a folio and the share of references that goes with it: the accounting behind both
/// <see cref="ZcopyLocalCache"/> and <see cref="ThreadSlice"/>. Not thread-safe: its holder serializes access.
/// </summary>
/// <remarks>
/// The slice is one piece taken from an arena, whose single reference <see cref="Install"/> turns into a
/// share of one reference per piece the slice can hold (one interlocked add). <see cref="TryCut"/> moves a
/// reference from the share to the new piece by decrementing a plain field, exactly as an arena does with a
/// folio (the kernel's pagecnt_bias, one level down); <see cref="TryTakeBack"/> moves a released piece's
/// reference back. The folio's shared count moves only when the slice is installed and when
/// <see cref="GiveBack"/> returns what is left, which unmaps the folio if nothing else holds it.
/// A piece duplicated with <see cref="NativePages.Get(in BioVec)"/> may be taken back twice: its extra
/// reference was added to the shared count, so the share grows by one more than it gave; so does a piece of
/// the same folio life cut by someone else (the arena, another slice) and released here. Those references
/// are in the shared count, so the share may keep them, but not without bound: once it holds twice what it
/// was installed with (<see cref="Limit"/>), it drops what is above <see cref="Limit"/> from the shared
/// count in one step, so a thread that duplicates and releases pieces of its own slice forever does not
/// walk the folio's count up to its ceiling, and a release of others' pieces costs one atomic operation
/// per <see cref="Limit"/> of them. Nothing is cut twice from the same bytes: the slice only moves forward,
/// and only the arena, which sees the shared count, starts a folio over.
/// </remarks>
internal struct FolioSlice
{
    /// <summary>The folio's base address, or 0 when there is no slice.</summary>
    public nint Folio;

    /// <summary>The folio's side-table entry (its life), or 0 when there is no slice.</summary>
    public long Entry;

    /// <summary>Offset in the folio of the next piece.</summary>
    public int Next;

    /// <summary>Offset in the folio where the slice ends; equal to <see cref="Next"/> when nothing is left to cut.</summary>
    public int End;

    /// <summary>References on the folio that are the slice's own.</summary>
    public int Share;

    /// <summary>
    /// Pieces cut from the slice (the arena counted the slice as one). Also read by other threads, with
    /// Volatile, for statistics: an aligned int, written whole (never bytewise, also when the struct is copied
    /// or cleared), so that read is racy but never torn.
    /// </summary>
    public int Cut;

    /// <summary>The share the slice was installed with; a share that reaches twice this drops back to it.</summary>
    public int Limit;

    /// <summary>Cuts a piece of <paramref name="fullSize"/> bytes, <paramref name="size"/> of them the caller's, if the slice has room.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryCut(int size, int fullSize, out BioVec piece)
    {
        int next = Next;
        if (End - next >= fullSize)
        {
            // The share keeps the folio's life alive, so Entry stays current while it is held.
            Next = next + fullSize;
            Share--;
            Cut++;
            piece = new BioVec(Folio, next, size, Entry);
            return true;
        }

        piece = default;
        return false;
    }

    /// <summary>Takes <paramref name="refs"/> references of a released piece back into the share if it was cut from this folio life.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryTakeBack(in BioVec piece, int refs)
    {
        if (piece.Entry == Entry && piece.Page == Folio && Entry != 0)
        {
            Share += refs;
            if (Share > Limit << 1)
            {
                DropSurplus();
            }

            return true;
        }

        return false;
    }

    /// <summary>
    /// Cuts the leading pieces of <paramref name="sizes"/> into <paramref name="pieces"/> while each is 1 to
    /// <paramref name="maxSize"/> bytes and the slice has room; returns how many it cut. <see cref="TryCut"/>
    /// for a run: the cursor and the counts stay in registers for the run and are stored once at its end, where
    /// a call per piece would read back each field its previous piece had just written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CutRun(ReadOnlySpan<int> sizes, Span<BioVec> pieces, int maxSize, int alignmentMask)
    {
        int count = Math.Min(sizes.Length, pieces.Length);
        nint folio = Folio; // in locals: a store to pieces might alias this struct, so fields would be read again
        long entry = Entry;
        int next = Next;
        int room = End - next;
        int cut = 0;
        for (; cut < count; cut++)
        {
            int size = sizes[cut];
            if ((uint)(size - 1) >= (uint)maxSize)
            {
                break;
            }

            // maxSize is below a folio, so the rounding cannot overflow.
            int fullSize = (size + alignmentMask) & ~alignmentMask;
            if (room < fullSize)
            {
                break;
            }

            pieces[cut] = new BioVec(folio, next, size, entry);
            next += fullSize;
            room -= fullSize;
        }

        // The share keeps the folio's life alive, so Entry stays current while it is held (as in TryCut).
        Next = next;
        Share -= cut;
        Cut += cut;
        return cut;
    }

    /// <summary>
    /// Takes back the leading pieces of <paramref name="pieces"/> cut from this folio life, one reference each,
    /// into the share; returns how many it took. <see cref="TryTakeBack"/> for a run, the share added to once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TakeBackRun(ReadOnlySpan<BioVec> pieces)
    {
        long entry = Entry;
        nint folio = Folio;
        int taken = 0;
        if (entry != 0)
        {
            while (taken < pieces.Length && pieces[taken].Entry == entry && pieces[taken].Page == folio)
            {
                taken++;
            }

            // As many references at once as PutBatch's slow path gives TryTakeBack for a run of one life.
            Share += taken;
            if (Share > Limit << 1)
            {
                DropSurplus();
            }
        }

        return taken;
    }

    /// <summary>
    /// Drops the references above <see cref="Limit"/> from the shared count. Never the count's last: the
    /// share's references are in the count unless pieces of this life were released twice, and even then
    /// the drop leaves the life to the share, whose <see cref="GiveBack"/> makes the final release (a double
    /// release's hazards are those of any other, see <see cref="NativePages.Put(in BioVec)"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DropSurplus()
    {
        _ = PageSideTable.DropKeeping(Entry, Share - Limit, keep: 1);
        Share = Limit;
    }

    /// <summary>
    /// Makes <paramref name="slice"/> (a piece holding one reference) the slice, with a share of one
    /// reference per <paramref name="alignment"/> bytes it holds plus its own, and cuts its first piece.
    /// The slice must be empty.
    /// </summary>
    public BioVec Install(in BioVec slice, int alignment, int size, int fullSize)
    {
        Debug.Assert(slice.Length >= fullSize, "a slice holds at least its first piece (ZcopyAllocator.AllocSlice)");
        int share = (slice.Length / alignment) + 1;

        // The slice's own reference is part of the share; the rest is added in one step before any piece
        // is cut, so the count can never reach zero while the share is held.
        Interlocked.Add(ref PageSideTable.Run(slice.Entry).State, share - 1);
        Folio = slice.Page;
        Entry = slice.Entry;
        Next = slice.Offset + fullSize;
        End = slice.Offset + slice.Length;
        Share = share - 1;
        Cut = 1;
        Limit = share;
        return new BioVec(slice.Page, slice.Offset, size, slice.Entry);
    }

    /// <summary>Empties the slice and returns what it held, for <see cref="GiveBack"/>.</summary>
    public FolioSlice Detach()
    {
        FolioSlice held = this;
        this = default;
        return held;
    }

    /// <summary>
    /// Gives a detached share back to its folio, unmapping the folio if that was its last reference (so never
    /// under an arena lock), and counts the pieces cut in <paramref name="owner"/>'s statistics.
    /// </summary>
    public readonly void GiveBack(FolioOwner owner)
    {
        if (Entry == 0)
        {
            return;
        }

        // The arena counted the slice as one piece; the user saw Cut pieces of it.
        owner.CountCachedFragments(Cut - 1);
        FolioOwner.ReleaseShare(Entry, Share);
    }
}
