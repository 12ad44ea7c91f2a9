using System.Runtime.InteropServices;

namespace NativeZcopy.Bench.Systems;

/// <summary><see cref="NativeMemory.Alloc(nuint)"/> and <see cref="NativeMemory.Free"/>: the C library's malloc.</summary>
internal readonly unsafe struct NativeMemorySystem : IPieceSystem<nint>
{
    public nint Alloc(int size)
    {
        byte* piece = (byte*)NativeMemory.Alloc((nuint)size);
        *piece = 1;
        return (nint)piece;
    }

    public void Release(nint piece) => NativeMemory.Free((void*)piece);
}
