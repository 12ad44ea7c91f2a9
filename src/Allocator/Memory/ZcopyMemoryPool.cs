using System;
using System.Buffers;
using System.Threading;
using NativeZcopy.Metrics;
using NativeZcopy.SideTable;

namespace NativeZcopy;

/// <summary>
/// A <see cref="MemoryPool{T}"/> of native memory: every rented buffer is a <see cref="ZcopyMemoryOwner"/>
/// holding one page reference, so it can go straight into a native gather list and never needs pinning.
/// Works as <c>PipeOptions.Pool</c> for System.IO.Pipelines.
/// </summary>
/// <remarks>
/// <para>
/// <b>Where buffers come from.</b> Up to the allocator's <see cref="ZcopyAllocator.MaxFragmentSize"/>, a
/// buffer is a piece broken off a folio of the pool's <see cref="ZcopyAllocator"/>; above it, a run of
/// whole OS pages of its own (<see cref="NativePages.Alloc(int)"/>), whose page-rounding slack is handed
/// to the renter as part of the buffer. Runs rented here are counted under the pool's allocator in the
/// <c>NativeZcopy</c> metrics.
/// </para>
/// <para>
/// <b>Lifetime.</b> A rented owner has one owner at a time; ownership moves by passing the owner, and the
/// last owner disposes it once, which drops its page reference (see <see cref="ZcopyMemoryOwner"/>).
/// Nothing is cached: "returning" a buffer is releasing its reference, and the allocator reuses a folio in
/// place once all its pieces are back. Disposing the pool only refuses further rents; buffers already
/// rented stay valid until disposed, and the allocator is not disposed (the pool does not own it).
/// </para>
/// <para>
/// <b>Why owners are not pooled.</b> Rent allocates one small <see cref="ZcopyMemoryOwner"/> object and
/// nothing else. Reusing owner objects would save that allocation, but a stale reference to a recycled
/// owner (a second dispose by a former renter, or a <see cref="Memory{T}"/> kept past its dispose) would
/// then act on the next renter's buffer. A fresh owner per rent keeps single ownership safe: a stale owner
/// stays disposed and refuses every access.
/// </para>
/// </remarks>
public sealed class ZcopyMemoryPool : MemoryPool<byte>
{
    /// <summary>What <c>Rent(-1)</c> gives: one OS page's worth, the segment size System.IO.Pipelines asks for.</summary>
    public const int DefaultBufferSize = 4096;

    /// <summary>Where buffers up to <see cref="ZcopyAllocator.MaxFragmentSize"/> come from.</summary>
    private readonly ZcopyAllocator _allocator;

    /// <summary>Maps and unmaps the page runs of larger buffers, and counts their bytes for the metrics.</summary>
    private readonly PageRunOwner _runOwner;

    /// <summary>1 once disposed; set once with <see cref="Interlocked.Exchange(ref int, int)"/>.</summary>
    private int _disposed;

    /// <summary>Creates a pool over <paramref name="allocator"/>, or over <see cref="ZcopyAllocator.Shared"/> when null.</summary>
    public ZcopyMemoryPool(ZcopyAllocator? allocator = null)
    {
        _allocator = allocator ?? ZcopyAllocator.Shared;
        _runOwner = _allocator.PoolRuns;
    }

    /// <summary>The allocator small buffers are broken off.</summary>
    public ZcopyAllocator Allocator => _allocator;

    /// <summary>
    /// The largest buffer <see cref="Rent"/> can return: <see cref="int.MaxValue"/> bytes, the most a
    /// <see cref="Memory{T}"/> can span. Whether the OS will map that much is up to the OS; a refusal is an
    /// <see cref="OutOfMemoryException"/>.
    /// </summary>
    public override int MaxBufferSize => int.MaxValue;

    /// <summary>
    /// Rents a native buffer of at least <paramref name="minBufferSize"/> bytes (<see cref="DefaultBufferSize"/>
    /// for -1). Dispose the returned owner once, when the last user is done with it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is below -1.</exception>
    /// <exception cref="ObjectDisposedException">The pool or its allocator was disposed.</exception>
    /// <exception cref="OutOfMemoryException">The OS refused the memory; nothing was kept.</exception>
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        // A Rent racing the pool's Dispose may pass this check and succeed: its owner is as valid as any other
        // (Dispose only refuses later rents), as for the allocator's own check further on.
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (minBufferSize < 0)
        {
            if (minBufferSize != -1)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(minBufferSize), minBufferSize, $"A buffer size must be -1 (the default, {DefaultBufferSize}) or 0 to {MaxBufferSize}.");
            }

            minBufferSize = DefaultBufferSize;
        }

        // Pieces must be at least one byte; a zero-byte rent gets the smallest piece. The owner cuts it
        // itself (see CutFor).
        return new ZcopyMemoryOwner(this, Math.Max(minBufferSize, 1));
    }

    /// <summary>
    /// The piece for an owner of at least <paramref name="size"/> bytes: a piece of the allocator, or a page
    /// run of its own above <see cref="ZcopyAllocator.MaxFragmentSize"/>. Called by the owner's constructor,
    /// once the owner object exists, and nothing after it can fail: the piece's reference is the owner's from
    /// the start. Cut before the owner was allocated, an out-of-memory for that object would leave a piece to
    /// give back, on a path no test can reach.
    /// </summary>
    internal BioVec CutFor(int size)
    {
        if (size <= _allocator.MaxFragmentSize)
        {
            return _allocator.Alloc(size);
        }

        // A page run needs nothing of the allocator but its unmap bookkeeping; it is refused all the same once
        // the allocator is disposed, as a piece is, so that a disposed allocator rents nothing. A Dispose racing
        // this check may still see one run mapped after it returns: that run goes at its owner's Dispose.
        ObjectDisposedException.ThrowIf(_allocator.Owner.IsDisposed, _allocator);
        return NativePages.Alloc(RoundToPages(size), _runOwner);
    }

    /// <summary>Refuses further rents. Buffers already rented stay valid until their owners dispose them.</summary>
    protected override void Dispose(bool disposing) => Interlocked.Exchange(ref _disposed, 1);

    /// <summary>
    /// <paramref name="size"/> rounded up to whole OS pages, capped at <see cref="int.MaxValue"/>: the
    /// run is mapped in whole pages anyway, so the slack is the renter's for free.
    /// </summary>
    private static int RoundToPages(int size)
    {
        long rounded = ((long)size + NativePages.OsPageSize - 1) & ~(long)(NativePages.OsPageSize - 1);
        return (int)Math.Min(rounded, int.MaxValue);
    }
}
