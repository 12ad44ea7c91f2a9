using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using NativeZcopy;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// NativeZcopy through <see cref="ZcopyAllocator.TryAlloc"/>, as a server that sheds load instead of catching
/// <see cref="OutOfMemoryException"/> takes its pieces, and <see cref="NativePages.Put(in BioVec)"/>.
/// </summary>
internal readonly unsafe struct ZcopyTryAllocSystem(ZcopyAllocator allocator) : IPieceSystem<BioVec>
{
    public BioVec Alloc(int size)
    {
        if (!allocator.TryAlloc(size, out BioVec piece))
        {
            ThrowRefused(size); // out of line, so this method stays small enough to inline into the workload
        }

        *(byte*)piece.Address = 1;
        return piece;
    }

    public void Release(BioVec piece) => NativePages.Put(piece);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowRefused(int size) =>
        throw new InvalidOperationException($"TryAlloc({size}) refused a piece in a benchmark.");
}
