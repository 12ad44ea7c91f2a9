using System.Runtime.CompilerServices;

namespace NativeZcopy.ThreadCache;

/// <summary>64 bytes of nothing: one cache line kept free of other threads' data (see <see cref="ThreadSlice"/>).</summary>
[InlineArray(8)]
internal struct PaddingLine
{
    /// <summary>The first of eight longs.</summary>
    private long _element;
}
