using NativeZcopy;

namespace NativeZcopy.Bench.Systems;

/// <summary>NativeZcopy: <see cref="ZcopyAllocator.Alloc"/> and <see cref="NativePages.Put(in BioVec)"/>.</summary>
internal readonly unsafe struct ZcopySystem(ZcopyAllocator allocator) : IPieceSystem<BioVec>
{
    public BioVec Alloc(int size)
    {
        BioVec piece = allocator.Alloc(size);
        *(byte*)piece.Address = 1;
        return piece;
    }

    public void Release(BioVec piece) => NativePages.Put(piece);
}
