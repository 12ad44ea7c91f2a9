namespace NativeZcopy.Bench.Systems;

/// <summary>
/// The ring-only floor of scenario 3: "allocating" hands out the piece's size as a plain value and
/// releasing does nothing, so a cross-thread run costs the hand-off through the ring and nothing else.
/// </summary>
/// <remarks>
/// The one system that writes no byte (see <see cref="IPieceSystem{THandle}"/>): there is no memory to
/// touch, which is the point.
/// </remarks>
internal readonly struct RingOnlyFloorSystem : IPieceSystem<nint>
{
    public nint Alloc(int size) => size;

    public void Release(nint piece)
    {
    }
}
