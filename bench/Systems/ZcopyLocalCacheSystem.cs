namespace NativeZcopy.Bench.Systems;

/// <summary>
/// NativeZcopy through a single-owner <see cref="NativeZcopy.ZcopyLocalCache"/>: <see cref="ZcopyLocalCache.Alloc"/>
/// and <see cref="ZcopyLocalCache.Put"/>, the path a connection or event loop that owns its pieces takes.
/// </summary>
internal readonly unsafe struct ZcopyLocalCacheSystem(ZcopyLocalCache cache) : IPieceSystem<BioVec>
{
    public BioVec Alloc(int size)
    {
        BioVec piece = cache.Alloc(size);
        *(byte*)piece.Address = 1;
        return piece;
    }

    public void Release(BioVec piece) => cache.Put(piece);
}
