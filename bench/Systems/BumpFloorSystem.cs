namespace NativeZcopy.Bench.Systems;

/// <summary>The floor: a bump pointer over one preallocated page; release does nothing.</summary>
internal readonly struct BumpFloorSystem(BumpPage page) : IPieceSystem<nint>
{
    public nint Alloc(int size) => page.Bump(size);

    public void Release(nint piece)
    {
    }
}
