using System.Runtime.InteropServices;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// A ring's two cursors, each next to its owner's private copy of the other cursor, the two pairs on
/// cache lines of their own so producer and consumer never write a line the other reads on every item.
/// Its own type because a struct nested in a generic class is generic, and generic types cannot have
/// explicit layout.
/// </summary>
/// <remarks>
/// The pairs sit 128 bytes apart with 128 bytes before the first and after the second, as
/// <c>ConcurrentQueue</c>'s cursors do on x64: a managed object is only 8-byte aligned, so 64 bytes between
/// two 16-byte pairs would not keep them off one 64-byte line, and 128 also keeps them out of one pair of
/// lines the adjacent-line prefetcher fetches together. The padding before the first pair keeps the ring's
/// other fields (read by both sides) off the consumer's line.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 384)]
internal struct RingCursors
{
    /// <summary>Next slot to read. Written by the consumer; read by the producer only when the ring looks full.</summary>
    [FieldOffset(128)]
    public long Head;

    /// <summary>The consumer's last read of <see cref="Tail"/>: the slots below it are published.</summary>
    [FieldOffset(136)]
    public long CachedTail;

    /// <summary>Next slot to write. Written by the producer; read by the consumer only when the ring looks empty.</summary>
    [FieldOffset(256)]
    public long Tail;

    /// <summary>The producer's last read of <see cref="Head"/>: the slots below it are free again.</summary>
    [FieldOffset(264)]
    public long CachedHead;
}
