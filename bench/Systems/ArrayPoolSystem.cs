using System.Buffers;

namespace NativeZcopy.Bench.Systems;

/// <summary><see cref="ArrayPool{T}.Shared"/> Rent and Return: managed, movable, not yet usable by native code.</summary>
internal readonly struct ArrayPoolSystem : IPieceSystem<byte[]>
{
    public byte[] Alloc(int size)
    {
        byte[] piece = ArrayPool<byte>.Shared.Rent(size);
        piece[0] = 1;
        return piece;
    }

    public void Release(byte[] piece) => ArrayPool<byte>.Shared.Return(piece);
}
