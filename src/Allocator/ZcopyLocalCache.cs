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
/// The cache takes an 8 KiB slice of a folio from the allocator as one piece, then turns that piece's one
/// reference into a share of one reference per piece the slice could hold (one interlocked add per slice).
/// Each <see cref="Alloc"/> moves one reference of that share to the new piece by decrementing a plain
/// field, exactly as an arena does with a folio (the kernel's pagecnt_bias, one level down).
/// <see cref="Put"/> of a piece on the slice's folio moves the reference back into the share, again a plain
/// increment: the folio's shared count does not change either way. What is left of the share goes back
/// with one interlocked add when the cache moves to a new slice or is disposed, and the folio is unmapped
/// then if nothing else holds it.
/// </para>
/// <para>
/// <b>Not thread-safe.</b> One owner uses it at a time (it may move between threads with its owner, as an
/// async method does, but never two at once). Pieces it hands out are ordinary pieces: any thread may
/// release them with <see cref="NativePages.Put(in BioVec)"/>. Dispose it before its allocator; while it is
/// alive it holds at most one slice's folio mapped.
/// </para>
/// </remarks>
public sealed class ZcopyLocalCache : IDisposable
{
    /// <summary>
    /// Slice size: 8 KiB holds 64 pieces of 128 B, so the slice's lock, its two interlocked adds and its
    /// lookup cost under 1 ns per piece, while an idle cache keeps at most 8 KiB of a folio from being reused.
    /// </summary>
    private const int DefaultSliceSize = 8 * 1024;

    /// <summary>The allocator slices come from.</summary>
    private readonly ZcopyAllocator _allocator;

    /// <summary>Slice size for this allocator: 8 KiB, or less when the allocator's pieces must be smaller.</summary>
    private readonly int _sliceSize;

    /// <summary>Largest piece cut from a slice: a quarter of it, so a slice is not wasted on one piece.</summary>
    private readonly int _maxCachedSize;

    /// <summary>Alignment minus one, as the allocator rounds.</summary>
    private readonly int _alignmentMask;

    /// <summary>The current slice and its share (see <see cref="FolioSlice"/>).</summary>
    private FolioSlice _slice;

    /// <summary>True once disposed.</summary>
    private bool _disposed;

    /// <summary>Creates a cache over <paramref name="allocator"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="allocator"/> is null.</exception>
    public ZcopyLocalCache(ZcopyAllocator allocator)
    {
        ArgumentNullException.ThrowIfNull(allocator);
        _allocator = allocator;
        _sliceSize = Math.Min(DefaultSliceSize, allocator.MaxFragmentSize);

        // With fragment tracking on, every piece must pass through the allocator to be recorded: the cache
        // then cuts nothing itself (no piece size qualifies) and forwards every call.
        _maxCachedSize = allocator.Owner.Tracker is null ? _sliceSize / 4 : 0;
        _alignmentMask = allocator.Alignment - 1;
    }

    /// <summary>Largest piece cut from the slice; larger ones go to the allocator directly.</summary>
    public int MaxCachedSize => _maxCachedSize;

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
    /// <exception cref="InvalidOperationException">The piece is empty or its page was already released.</exception>
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
        ReturnSlice();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private BioVec AllocSlow(int size, int fullSize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)(size - 1) >= (uint)_maxCachedSize)
        {
            return _allocator.Alloc(size); // too big to cut from a slice, or out of range: let it say so
        }

        ReturnSlice();
        BioVec slice = _allocator.Alloc(_sliceSize);
        return _slice.Install(slice, _sliceSize, (_sliceSize / (_alignmentMask + 1)) + 1, size, fullSize);
    }

    /// <summary>Returns the cache's share on the current slice's folio, unmapping it if that was the last ref.</summary>
    private void ReturnSlice() => _slice.Detach().GiveBack(_allocator.Owner);
}
