namespace NativeZcopy.Bench.Systems;

/// <summary>The floor with an uncontended spin lock around the bump, as NativeZcopy's arena takes one.</summary>
internal readonly struct SpinLockedFloorSystem(BumpPage page) : IPieceSystem<nint>
{
    public nint Alloc(int size) => page.BumpLocked(size);

    public void Release(nint piece)
    {
    }
}
