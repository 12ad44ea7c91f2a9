using System;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.ThreadCache;

namespace NativeZcopy;

/// <summary>
/// A single-owner front for a <see cref="ZcopyAllocator"/>: pieces cut from a private slice of a folio with
/// no lock and no atomic operation, and pieces of that slice given back the same way. For code that owns a
/// stream of work (one connection, one event loop) and allocates and releases most headers itself.
/// </summary>
/// <remarks>
/// <para>
/// The cache takes a slice of a folio from the allocator (the largest a busy thread's slice grows to, the
/// whole 64 KiB folio by default) and cuts and takes back pieces with plain arithmetic on its share of references
/// (see <see cref="FolioSlice"/>); the folio's shared count moves only when the cache changes slices or is
/// disposed, and the folio is unmapped then if nothing else holds it.
/// </para>
/// <para>
/// <b>Not thread-safe.</b> One owner uses it at a time (it may move between threads with its owner, as an
/// async method does, but never two at once). Pieces it hands out are ordinary pieces: any thread may
/// release them with <see cref="NativePages.Put(in BioVec)"/>. Dispose it before its allocator; until then it
/// holds at most one slice's folio mapped, and its allocator (<see cref="ZcopyAllocator.Shared"/> too) keeps
/// it, for its statistics: a cache never disposed keeps both for the life of its allocator.
/// </para>
/// </remarks>
public sealed class ZcopyLocalCache : IDisposable
{
    /// <summary>The allocator slices come from.</summary>
    private readonly ZcopyAllocator _allocator;

    /// <summary>
    /// Largest piece cut from a slice: a quarter of the largest slice, so a slice is not wasted on one piece.
    /// The allocator's Dispose sets it to 0 (<see cref="Shut"/>), so that the fast path's own size check sends
    /// every call to the slow path, which refuses it: a disposed allocator hands out nothing more, at no cost
    /// per piece. Written at construction and by the disposing thread (Volatile.Write); read with
    /// Volatile.Read except on the fast path, where a stale value can only cut a piece or two more, during
    /// the Dispose, from a slice the cache's share keeps mapped until the cache gives it back.
    /// </summary>
    private int _maxCachedSize;

    /// <summary>Alignment minus one, as the allocator rounds.</summary>
    private readonly int _alignmentMask;

    /// <summary>
    /// The current slice and its share (see <see cref="FolioSlice"/>). Owner only, except that statistics read
    /// its piece count from other threads (<see cref="PiecesCut"/>).
    /// </summary>
    private FolioSlice _slice;

    /// <summary>True once disposed. Owner only, as the whole cache is.</summary>
    private bool _disposed;

    /// <summary>
    /// True once the allocator knows this cache (see <see cref="ZcopyAllocator.TryAddLocalCache"/>): from the
    /// first slice it takes, so a cache that never holds a folio is never kept alive by its allocator. Owner only.
    /// </summary>
    private bool _registered;

    /// <summary>Creates a cache over <paramref name="allocator"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="allocator"/> is null.</exception>
    public ZcopyLocalCache(ZcopyAllocator allocator)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        _allocator = allocator;

        // With fragment tracking on, every piece must pass through the allocator to be recorded: the cache
        // then cuts nothing itself (no piece size qualifies) and forwards every call. A cache made after the
        // allocator's Dispose starts shut, as that Dispose would have left it: it reads 0 from the start, and
        // its first Alloc refuses (a Dispose racing this constructor is caught there too, see AllocSlow).
        _maxCachedSize = allocator.Owner.Tracker is null && !allocator.Owner.IsDisposed ? allocator.MaxCachedSize : 0;
        _alignmentMask = allocator.Alignment - 1;
    }

    /// <summary>
    /// Pieces cut from the current slice so far, for the allocator's statistics while the cache holds the slice
    /// (its give-back counts them after that): a racy but atomic read of a field only the owner writes.
    /// </summary>
    internal int PiecesCut => Volatile.Read(ref _slice.Cut);

    /// <summary>Largest piece cut from the slice; larger ones go to the allocator directly. 0 once the allocator's Dispose has shut the cache.</summary>
    public int MaxCachedSize => Volatile.Read(ref _maxCachedSize);

    /// <summary>A piece of <paramref name="size"/> bytes, as <see cref="ZcopyAllocator.Alloc"/> gives.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not in 1..<see cref="ZcopyAllocator.MaxFragmentSize"/>.</exception>
    /// <exception cref="OutOfMemoryException">The OS refused a folio.</exception>
    /// <exception cref="ObjectDisposedException">The cache or its allocator was disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BioVec Alloc(int size)
    {
        int fullSize = (size + _alignmentMask) & ~_alignmentMask;
        if ((uint)(size - 1) < (uint)_maxCachedSize && _slice.TryCut(size, fullSize, out BioVec piece))
        {
            return piece;
        }

        return AllocSlow(size, fullSize);
    }

    /// <summary>
    /// Releases a piece: into the cache's share if it lies on the current slice's folio (no atomic
    /// operation), else through <see cref="NativePages.Put(in BioVec)"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">As <see cref="NativePages.Put(in BioVec)"/>: the piece is empty or
    /// its page was already released, or (with fragment tracking) the piece itself was, or the release was the
    /// page's last and the OS refused to unmap it (the reference is dropped all the same). Works after the cache's
    /// or its allocator's Dispose too.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Put(in BioVec piece)
    {
        // Same folio, same life, and the cache's share keeps that life alive: the piece's reference simply
        // becomes the cache's again.
        if (!_slice.TryTakeBack(piece, 1))
        {
            NativePages.Put(piece);
        }
    }

    /// <summary>Gives back what is left of the slice. Idempotent.</summary>
    public void Dispose()
    {
        _disposed = true;
        if (_registered)
        {
            _registered = false;
            _allocator.RemoveLocalCache(this);
        }

        ReturnSlice();
    }

    /// <summary>
    /// Called by the allocator's Dispose: no size is cut from the slice any more, so every Alloc reaches
    /// the allocator and is refused there, even while the slice still has room. The slice itself is the
    /// owner's to give back, at its next Alloc or its Dispose: this runs on another thread.
    /// </summary>
    internal void Shut() => Volatile.Write(ref _maxCachedSize, 0);

    /// <summary>
    /// Gives the slice back for an owner nothing can reach: called by the allocator's finalizer, which runs
    /// only once no thread holds this cache (a cache holds its allocator), so no Alloc or Put races it.
    /// </summary>
    internal void GiveBackUnreachable() => ReturnSlice();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private BioVec AllocSlow(int size, int fullSize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int maxCachedSize = Volatile.Read(ref _maxCachedSize);
        if ((uint)(size - 1) >= (uint)maxCachedSize)
        {
            if (maxCachedSize == 0)
            {
                ReturnSlice(); // shut by the allocator's Dispose: the slice goes back now (a no-op without one)
            }

            return _allocator.Alloc(size); // too big to cut from a slice, out of range or disposed: let it say so
        }

        // Known to the allocator before it holds a folio, so the allocator's Dispose can shut it. If that
        // Dispose came first, the cache shuts itself and takes no slice: the arenas may not be drained yet,
        // and would hand one out, which no Dispose would then shut.
        if (!_registered && !(_registered = _allocator.TryAddLocalCache(this)))
        {
            Shut();
            throw new ObjectDisposedException(typeof(ZcopyAllocator).FullName);
        }

        FolioSlice held = _slice.Detach();
        return _slice.Install(_allocator.AllocLargestSlice(fullSize, ref held), _allocator.Alignment, size, fullSize);
    }

    /// <summary>Returns the cache's share on the current slice's folio, unmapping it if that was the last ref.</summary>
    private void ReturnSlice() => _slice.Detach().GiveBack(_allocator.Owner);
}
