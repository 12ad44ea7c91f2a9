using System.Runtime.InteropServices;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// A ring's cursors: the two the sides publish to each other (<see cref="Head"/>, <see cref="Tail"/>), each
/// on a cache line of its own, and each side's private cursor next to its copy of the other side's published
/// one, so a side writes its private line on every item and the other side never reads it. Its own type
/// because a struct nested in a generic class is generic, and generic types cannot have explicit layout.
/// </summary>
/// <remarks>
/// The four groups sit 128 bytes apart with 128 bytes before the first and after the last, as
/// <c>ConcurrentQueue</c>'s cursors do on x64: a managed object is only 8-byte aligned, so 64 bytes between
/// two groups would not keep them off one 64-byte line, and 128 also keeps them out of one pair of lines
/// the adjacent-line prefetcher fetches together. The padding before the first group keeps the ring's
/// other fields (read by both sides) off the consumer's line.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 640)]
internal struct RingCursors
{
    /// <summary>Slots below this are free again: published by the consumer every batch, read by the producer only when the ring looks full.</summary>
    [FieldOffset(128)]
    public long Head;

    /// <summary>Slots below this are filled: published by the producer every batch, read by the consumer only when the ring looks empty.</summary>
    [FieldOffset(256)]
    public long Tail;

    /// <summary>The consumer's next slot to read. Consumer only.</summary>
    [FieldOffset(384)]
    public long NextHead;

    /// <summary>The consumer's last read of <see cref="Tail"/>. Consumer only.</summary>
    [FieldOffset(392)]
    public long CachedTail;

    /// <summary>The producer's next slot to write. Producer only.</summary>
    [FieldOffset(512)]
    public long NextTail;

    /// <summary>The producer's last read of <see cref="Head"/>. Producer only.</summary>
    [FieldOffset(520)]
    public long CachedHead;
}
