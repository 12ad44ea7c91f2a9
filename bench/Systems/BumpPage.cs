using System;
using System.Runtime.InteropServices;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// One preallocated native page and a bump offset: the physical floor of handing out a piece (an add, a
/// compare, a store), with an optional uncontended spin lock as NativeZcopy's arenas take.
/// </summary>
/// <remarks>
/// Owned by one benchmark thread; the lock word is touched only with Interlocked and Volatile. Release is
/// free: the offset wraps to the start when a piece would not fit, so nothing is ever given back.
/// </remarks>
internal sealed unsafe class BumpPage : IDisposable
{
    /// <summary>Bytes in the page: at least one 4 KiB page, so the largest fragment still fits.</summary>
    private readonly int _size;

    /// <summary>Start of the page.</summary>
    private byte* _base;

    /// <summary>Next free byte.</summary>
    private int _offset;

    /// <summary>0 free, 1 held.</summary>
    private int _lock;

    /// <summary>Allocates the page.</summary>
    public BumpPage()
    {
        _size = Math.Max(4096, Environment.SystemPageSize);
        _base = (byte*)NativeMemory.AlignedAlloc((nuint)_size, (nuint)_size);
    }

    /// <summary>Bumps the offset; wraps to the start when the piece does not fit.</summary>
    public nint Bump(int size)
    {
        int offset = _offset;
        if (offset + size > _size)
        {
            offset = 0;
        }

        _offset = offset + size;
        byte* piece = _base + offset;
        *piece = 1;
        return (nint)piece;
    }

    /// <summary><see cref="Bump"/> under an uncontended spin lock.</summary>
    public nint BumpLocked(int size)
    {
        while (System.Threading.Interlocked.CompareExchange(ref _lock, 1, 0) != 0)
        {
            System.Threading.Thread.SpinWait(1);
        }

        nint piece = Bump(size);
        System.Threading.Volatile.Write(ref _lock, 0);
        return piece;
    }

    /// <summary>Frees the page.</summary>
    public void Dispose()
    {
        NativeMemory.AlignedFree(_base);
        _base = null;
    }
}
