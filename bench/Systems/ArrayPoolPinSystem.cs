using System;
using System.Buffers;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// <see cref="ArrayPool{T}.Shared"/> Rent, then <see cref="Memory{T}.Pin"/> to get a stable address, then
/// unpin and Return: what a .NET user does to hand a pooled buffer to native code.
/// </summary>
internal readonly unsafe struct ArrayPoolPinSystem : IPieceSystem<PinnedRental>
{
    public PinnedRental Alloc(int size)
    {
        byte[] array = ArrayPool<byte>.Shared.Rent(size);
        MemoryHandle pin = new Memory<byte>(array).Pin();
        *(byte*)pin.Pointer = 1;
        return new PinnedRental(array, pin);
    }

    public void Release(PinnedRental piece)
    {
        piece.Pin.Dispose();
        ArrayPool<byte>.Shared.Return(piece.Array);
    }
}
