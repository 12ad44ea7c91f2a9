using System.Buffers;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// NativeZcopy as a <see cref="MemoryPool{T}"/>: <see cref="ZcopyMemoryPool.Rent"/> and the owner's Dispose, what
/// System.IO.Pipelines and other <see cref="IMemoryOwner{T}"/> consumers pay; beside <see cref="MemoryPoolSystem"/>,
/// the pool they would use instead.
/// </summary>
internal readonly struct ZcopyMemoryPoolSystem(ZcopyMemoryPool pool) : IPieceSystem<IMemoryOwner<byte>>
{
    public IMemoryOwner<byte> Alloc(int size)
    {
        IMemoryOwner<byte> piece = pool.Rent(size);
        piece.Memory.Span[0] = 1;
        return piece;
    }

    public void Release(IMemoryOwner<byte> piece) => piece.Dispose();
}
