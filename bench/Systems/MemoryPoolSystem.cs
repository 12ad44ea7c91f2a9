using System.Buffers;

namespace NativeZcopy.Bench.Systems;

/// <summary><see cref="MemoryPool{T}.Shared"/> Rent and Dispose.</summary>
internal readonly struct MemoryPoolSystem : IPieceSystem<IMemoryOwner<byte>>
{
    public IMemoryOwner<byte> Alloc(int size)
    {
        IMemoryOwner<byte> piece = MemoryPool<byte>.Shared.Rent(size);
        piece.Memory.Span[0] = 1;
        return piece;
    }

    public void Release(IMemoryOwner<byte> piece) => piece.Dispose();
}
