namespace NativeZcopy.Bench.Systems;

/// <summary>
/// <see cref="RingOnlyFloorSystem"/> with NativeZcopy's handle: "allocating" hands out an empty
/// <see cref="BioVec"/> and releasing does nothing, so a cross-thread run costs the hand-off of a 24-byte
/// handle through the ring, three times the slot bytes of the plain value, and nothing else. Against it,
/// scenario 3's NativeZcopy rows read as hand-off plus allocator.
/// </summary>
/// <remarks>Writes no byte, as <see cref="RingOnlyFloorSystem"/>: there is no memory to touch.</remarks>
internal readonly struct RingOnlyPieceFloorSystem : IPieceSystem<BioVec>
{
    public BioVec Alloc(int size) => default;

    public void Release(BioVec piece)
    {
    }
}
