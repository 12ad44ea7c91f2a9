using System;
using System.Runtime.CompilerServices;
using NativeZcopy.SideTable;

namespace NativeZcopy;

/// <summary>
/// A piece of a native page, as the kernel's <c>bio_vec</c>: the page (folio) that holds it, where it starts
/// in that page, and how long it is. Whoever holds a <see cref="BioVec"/> from an allocation holds one
/// reference on its page and gives it back with <see cref="NativePages.Put(in BioVec)"/>.
/// </summary>
/// <remarks>
/// The address is stable and needs no pinning: the memory is native and never moves. A piece also
/// remembers which life of its page it belongs to, so that releasing it after its page was unmapped or
/// reissued fails with <see cref="InvalidOperationException"/> instead of moving someone else's count.
/// </remarks>
public readonly struct BioVec : IEquatable<BioVec>
{
    private readonly nint _page;
    private readonly int _offset;
    private readonly int _length;

    /// <summary>
    /// The side-table entry of the run life the piece was cut from, without the tracked bit: the run's
    /// generation in the high half, its descriptor index + 1 in the low half. Generations are per descriptor,
    /// so two descriptors can be at the same one: the piece names both, and a stale piece whose address now
    /// belongs to a run of another descriptor is refused. Kept whole, as the side table and the thread cache
    /// compare it, so the hot paths neither split nor rebuild it.
    /// </summary>
    private readonly long _entry;

    /// <summary>A piece of the run <paramref name="entry"/> names (its tracked bit is ignored).</summary>
    internal BioVec(nint page, int offset, int length, long entry)
    {
        _page = page;
        _offset = offset;
        _length = length;
        _entry = entry & ~PageSideTable.TrackedBit;
    }

    /// <summary>Base address of the page (folio or page run) that holds the bytes.</summary>
    public nint Page => _page;

    /// <summary>First byte of the piece, relative to <see cref="Page"/>.</summary>
    public int Offset => _offset;

    /// <summary>Length of the piece in bytes.</summary>
    public int Length => _length;

    /// <summary>Address of the first byte: <see cref="Page"/> + <see cref="Offset"/>.</summary>
    public nint Address => _page + _offset;

    /// <summary>True for <c>default(BioVec)</c>, which names no memory.</summary>
    public bool IsEmpty => _page == 0;

    /// <summary>The life of the page this piece was cut from (see the remarks).</summary>
    internal uint Generation => PageSideTable.GenerationOf(_entry);

    /// <summary>The side-table entry of the run life this piece was cut from, without the tracked bit.</summary>
    internal long Entry => _entry;

    /// <summary>True when <paramref name="other"/> was cut from the same page life: a run of such pieces is released, or checked, as one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool SharesLifeWith(in BioVec other) => _page == other._page && _entry == other._entry;

    /// <summary>The piece's bytes. Valid while the caller holds its reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe Span<byte> AsSpan() => new((void*)(_page + _offset), _length);

    /// <summary>
    /// A sub-piece on the same page. It shares the page reference of this piece; it does not take one. A
    /// zero-length slice has no bytes: with fragment tracking, releasing or duplicating one that lies where two
    /// live fragments meet (this piece's end and the next one's start) is refused.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie inside this piece.</exception>
    public BioVec Slice(int start, int length)
    {
        if ((uint)start > (uint)_length || (uint)length > (uint)(_length - start))
        {
            // The parameter named is the one at fault: start when it is past the end, else length.
            bool startValid = (uint)start <= (uint)_length;
            throw new ArgumentOutOfRangeException(
                startValid ? nameof(length) : nameof(start),
                startValid ? length : start,
                $"Slice({start}, {length}) does not lie inside a piece of {_length} bytes.");
        }

        return new BioVec(_page, _offset + start, length, Entry);
    }

    /// <inheritdoc/>
    public bool Equals(BioVec other) =>
        _page == other._page && _offset == other._offset && _length == other._length && _entry == other._entry;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BioVec other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_page, _offset, _length, _entry);

    /// <inheritdoc/>
    public override string ToString() => $"BioVec(page 0x{_page:X} + {_offset}, {_length} bytes)";

    /// <summary>Equality of page, offset, length and page life.</summary>
    public static bool operator ==(BioVec left, BioVec right) => left.Equals(right);

    /// <summary>Inequality of page, offset, length or page life.</summary>
    public static bool operator !=(BioVec left, BioVec right) => !left.Equals(right);
}
