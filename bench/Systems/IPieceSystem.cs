namespace NativeZcopy.Bench.Systems;

/// <summary>
/// One allocator under test: take a piece of <c>size</c> bytes, give it back. Implemented by structs and
/// used as a generic constraint, so the JIT compiles every workload once per system with direct, inlinable
/// calls: the workload is written once and no system pays an interface call the others do not.
/// </summary>
/// <remarks>
/// Every <see cref="Alloc"/> writes the piece's first byte, as any user writing a header does. That faults
/// fresh pages in where the system really maps them (NativeZcopy's folios, malloc's new arenas), so the
/// cost of first touch is counted wherever it falls.
/// </remarks>
/// <typeparam name="THandle">What the system hands out and takes back.</typeparam>
internal interface IPieceSystem<THandle>
{
    /// <summary>Takes a piece of <paramref name="size"/> bytes and writes its first byte.</summary>
    THandle Alloc(int size);

    /// <summary>Gives the piece back.</summary>
    void Release(THandle piece);
}
