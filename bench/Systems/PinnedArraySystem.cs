using System;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// <see cref="GC.AllocateUninitializedArray{T}(int, bool)"/> on the pinned object heap (Kestrel's choice):
/// release is dropping the reference, so the cost of freeing lands in the GC, which MemoryDiagnoser counts.
/// </summary>
internal readonly struct PinnedArraySystem : IPieceSystem<byte[]>
{
    public byte[] Alloc(int size)
    {
        byte[] piece = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        piece[0] = 1;
        return piece;
    }

    public void Release(byte[] piece)
    {
    }
}
