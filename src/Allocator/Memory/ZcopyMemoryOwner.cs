using System;
using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Threading;

namespace NativeZcopy;

/// <summary>
/// A <see cref="MemoryManager{T}"/> over one piece of native memory (an allocator piece or a page run) that
/// owns exactly one reference on the piece's page. Its <see cref="Memory"/> goes wherever a
/// <see cref="Memory{T}"/> goes; <see cref="Dispose(bool)"/> gives the reference back.
/// </summary>
/// <remarks>
/// <para>
/// <b>Lifetime rules</b> (the <see cref="Memory{T}"/> usage guidelines): the owner has exactly one owner at a
/// time, the code that rented or created it. Ownership moves by passing the owner object, never by passing
/// its <see cref="Memory{T}"/>: a consumer handed only the <see cref="Memory{T}"/> may use it until it
/// returns or until the owner tells it otherwise, and must not keep it. Whoever owns the owner last disposes
/// it exactly once; disposing it again is a no-op, and two threads disposing it at once drop the reference
/// once. After disposal, <see cref="GetSpan"/>, <see cref="Memory"/>, <see cref="Pin"/> and every
/// <see cref="Memory{T}"/> made from this owner throw <see cref="ObjectDisposedException"/> instead of
/// touching memory that may already be unmapped or reissued to someone else. A <see cref="Span{T}"/>
/// taken before disposal is a raw view and is not checked: do not keep spans across a dispose.
/// </para>
/// <para>
/// <b>Pinning.</b> The memory is native and never moves, so <see cref="Pin"/> pins nothing on the GC heap:
/// it counts a pin on the owner and returns a <see cref="MemoryHandle"/> whose disposal takes it off, and
/// the owner keeps its page reference until it is disposed and no pin is left. A pinned address therefore
/// stays valid even if the owner is disposed first; the page is released when the last of the owner and
/// its handles lets go. Dispose each handle once: a copied <see cref="MemoryHandle"/> struct disposed as well
/// as the original throws <see cref="InvalidOperationException"/> when no other pin of the owner is
/// outstanding, and otherwise takes that pin off (handles are structs and cannot be told apart), but
/// never releases the page while the owner is not disposed.
/// </para>
/// <para>
/// A leaked owner is not finalized: its page stays mapped until the process exits. A finalizer would put a
/// cost on every rent for the sake of a bug, so NativeZcopy does not have one.
/// </para>
/// </remarks>
public sealed class ZcopyMemoryOwner : MemoryManager<byte>
{
    /// <summary>The piece whose one page reference this owner holds. Never changes.</summary>
    private readonly BioVec _piece;

    /// <summary>
    /// The bit of <see cref="_state"/> set once the owner is disposed. The highest below the sign bit, so the word
    /// stays non-negative and leaves room for 2^30 - 1 pins (<see cref="Pin"/> refuses one more, so a count never
    /// carries into it).
    /// </summary>
    private const int DisposedBit = 1 << 30;

    /// <summary>The bits of <see cref="_state"/> below <see cref="DisposedBit"/>: the pins outstanding.</summary>
    private const int PinMask = DisposedBit - 1;

    /// <summary>
    /// The owner's life in one word, changed only with Interlocked: <see cref="DisposedBit"/> once disposed,
    /// and below it the pins outstanding (<see cref="Pin"/>s not yet unpinned). The owner's one page reference
    /// is dropped by the change that leaves the word at exactly <see cref="DisposedBit"/>: the Dispose that
    /// finds no pin, or the last Unpin after Dispose. No other change reaches that value (a Pin needs the bit
    /// clear, an Unpin a pin outstanding), and once there the word never moves again, so the reference is
    /// dropped once. The page reference stands for the pins too, so a Pin and an Unpin cost one atomic
    /// operation each, on the owner's own cache line; a page reference per pin cost one each on the folio's
    /// shared count, and counting pins beside it one more (docs/benchmarks.md, step 51).
    /// An Unpin with no pin outstanding (a copied handle disposed as well as the original, or a direct call)
    /// is refused: taking it would let the owner's Dispose release the page under another renter's piece.
    /// </summary>
    private int _state;

    /// <summary>
    /// Takes over the reference <paramref name="piece"/> holds: from now on the owner drops it, and the
    /// caller must not <see cref="NativePages.Put(in BioVec)"/> the piece itself.
    /// </summary>
    /// <exception cref="ArgumentException">The piece is empty (<c>default(BioVec)</c>).</exception>
    /// <exception cref="InvalidOperationException">The piece was already released: its page was, or (with
    /// fragment tracking) the piece itself was (see <see cref="NativePages.IsLive(in BioVec)"/>); or, with
    /// fragment tracking, it has no bytes and lies where two live fragments meet, so which one it names cannot
    /// be told. As <see cref="Net.ZcopyMessage.Add(in BioVec)"/> refuses the same pieces.</exception>
    public ZcopyMemoryOwner(BioVec piece)
    {
        if (piece.IsEmpty)
        {
            throw new ArgumentException("An empty BioVec names no memory to own.", nameof(piece));
        }

        if (!NativePages.IsLive(piece))
        {
            throw new InvalidOperationException($"{piece} was already released, so it holds no reference to hand over.");
        }

        NativePages.ThrowIfNoSingleFragment(piece);
        _piece = piece;
    }

    /// <summary>
    /// The owner of a fresh piece of <paramref name="pool"/>'s, of at least <paramref name="size"/> bytes, cut
    /// here, after this object was allocated (see <see cref="ZcopyMemoryPool.CutFor"/>).
    /// </summary>
    internal ZcopyMemoryOwner(ZcopyMemoryPool pool, int size) => _piece = pool.CutFor(size);

    /// <summary>
    /// The piece this owner holds, for native gather lists (<see cref="BioVec.Address"/>). It shares the
    /// owner's reference: valid until the owner is disposed, unless the caller takes its own with
    /// <see cref="NativePages.Get(in BioVec)"/>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The owner was disposed.</exception>
    public BioVec Piece
    {
        get
        {
            ThrowIfDisposed();
            return _piece;
        }
    }

    /// <summary>The piece's length in bytes; readable after disposal too.</summary>
    public int Length => _piece.Length;

    /// <summary>True once the owner has been disposed.</summary>
    public bool IsDisposed => (Volatile.Read(ref _state) & DisposedBit) != 0;

    /// <summary>The piece as <see cref="Memory{T}"/>, valid until the owner is disposed.</summary>
    /// <exception cref="ObjectDisposedException">The owner was disposed.</exception>
    public override Memory<byte> Memory
    {
        get
        {
            ThrowIfDisposed();
            return CreateMemory(_piece.Length);
        }
    }

    /// <summary>The piece's bytes. Every <see cref="Memory{T}.Span"/> of this owner's memory comes through here.</summary>
    /// <exception cref="ObjectDisposedException">The owner was disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override Span<byte> GetSpan()
    {
        ThrowIfDisposed();
        return _piece.AsSpan();
    }

    /// <summary>
    /// The native address of byte <paramref name="elementIndex"/>, kept valid until the returned handle is
    /// disposed: the owner's page reference stands until then, even past the owner's Dispose. No GC pinning
    /// happens: the memory never moves.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementIndex"/> lies outside the piece.</exception>
    /// <exception cref="ObjectDisposedException">The owner was disposed.</exception>
    /// <exception cref="InvalidOperationException">2^30 - 1 pins are outstanding already.</exception>
    public override unsafe MemoryHandle Pin(int elementIndex = 0)
    {
        // Index == Length is allowed: pinning an empty slice at the end of the memory is legal.
        if ((uint)elementIndex > (uint)_piece.Length)
        {
            ThrowIfDisposed();
            throw new ArgumentOutOfRangeException(
                nameof(elementIndex), elementIndex, $"The index must lie in 0..{_piece.Length}.");
        }

        // A pin counts only while the disposed bit is clear: the owner's reference then still stands, and
        // the pin keeps it standing past a Dispose that comes after.
        int state = Volatile.Read(ref _state);
        while (true)
        {
            if ((state & DisposedBit) != 0)
            {
                ThrowDisposed();
            }

            if ((state & PinMask) == PinMask)
            {
                throw new InvalidOperationException($"{this} has {PinMask} pins outstanding, the most it can count.");
            }

            int seen = Interlocked.CompareExchange(ref _state, state + 1, state);
            if (seen == state)
            {
                return new MemoryHandle((void*)(_piece.Address + elementIndex), default, this);
            }

            state = seen;
        }
    }

    /// <summary>
    /// Takes off a pin <see cref="Pin"/> counted; the last one after the owner's Dispose drops the owner's
    /// page reference. The owner is the handle's <see cref="IPinnable"/>, and <see cref="_piece"/> never
    /// changes, so this releases exactly the page Pin kept, whether or not the owner was disposed in between.
    /// </summary>
    /// <remarks>
    /// Never throws for an OS refusal to unmap the page (see <see cref="Dispose(bool)"/>): a handle's
    /// <see cref="MemoryHandle.Dispose"/> is a dispose.
    /// </remarks>
    /// <exception cref="InvalidOperationException">No reference of a <see cref="Pin"/> is outstanding; nothing
    /// was dropped.</exception>
    public override void Unpin()
    {
        int state = Volatile.Read(ref _state);
        while (true)
        {
            if ((state & PinMask) == 0)
            {
                throw new InvalidOperationException($"Unpin of {this} with no pin outstanding: a copy of a handle was disposed as well as the handle, or Unpin was called without Pin.");
            }

            int seen = Interlocked.CompareExchange(ref _state, state - 1, state);
            if (seen == state)
            {
                break;
            }

            state = seen;
        }

        if (state - 1 == DisposedBit)
        {
            NativePages.PutToleratingRefusedUnmap(_piece);
        }
    }

    /// <summary>
    /// Gives the memory back: the page reference is dropped now, or by the last <see cref="Unpin"/> if a pin is
    /// outstanding. Only the first call does anything. The same as <see cref="IDisposable.Dispose"/>, which
    /// <see cref="MemoryManager{T}"/> implements explicitly, so that code holding the owner by its own type can
    /// call it without a cast.
    /// </summary>
    public void Dispose() => ((IDisposable)this).Dispose();

    /// <summary>
    /// Marks the owner disposed, once, and drops its page reference if no pin is outstanding (else the last
    /// Unpin drops it). Every other call (a second dispose, a racing thread) finds the bit set and does nothing.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Or(ref _state, DisposedBit) == 0)
        {
            NativePages.PutToleratingRefusedUnmap(_piece);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"ZcopyMemoryOwner({_piece}{(IsDisposed ? ", disposed" : string.Empty)})";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ThrowIfDisposed()
    {
        if ((Volatile.Read(ref _state) & DisposedBit) != 0)
        {
            ThrowDisposed();
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() => throw new ObjectDisposedException(typeof(ZcopyMemoryOwner).FullName, $"{this} was already disposed; its memory may belong to someone else now.");
}
