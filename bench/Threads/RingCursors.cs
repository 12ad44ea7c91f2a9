using System.Runtime.InteropServices;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// A ring's two cursors, each on its own cache line so producer and consumer never share one. Its own type
/// because a struct nested in a generic class is generic, and generic types cannot have explicit layout.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct RingCursors
{
    /// <summary>Next slot to read. Consumer-owned.</summary>
    [FieldOffset(64)]
    public long Head;

    /// <summary>Next slot to write. Producer-owned.</summary>
    [FieldOffset(128)]
    public long Tail;
}
