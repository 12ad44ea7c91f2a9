using DotNetty.Buffers;
using DotNetty.Common;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// DotNetty.Buffers' <see cref="PooledByteBufferAllocator"/>: <c>DirectBuffer(n)</c> and <c>Release()</c>,
/// the refcounted pooled allocator .NET networking code has used.
/// </summary>
/// <remarks>
/// Its leak detector is switched off (<see cref="ResourceLeakDetector.DetectionLevel.Disabled"/>) before the
/// first buffer, so it samples no allocation: the comparison is against the pool alone.
/// </remarks>
internal readonly struct DotNettySystem(IByteBufferAllocator allocator) : IPieceSystem<IByteBuffer>
{
    /// <summary>A fresh pooled allocator with the leak detector off.</summary>
    public static IByteBufferAllocator CreateAllocator()
    {
        ResourceLeakDetector.Level = ResourceLeakDetector.DetectionLevel.Disabled;
        return new PooledByteBufferAllocator();
    }

    public IByteBuffer Alloc(int size)
    {
        IByteBuffer piece = allocator.DirectBuffer(size);
        piece.SetByte(0, 1);
        return piece;
    }

    public void Release(IByteBuffer piece) => piece.Release();
}
