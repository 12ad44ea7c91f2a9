using System;
using System.Buffers;

namespace NativeZcopy.Net;

/// <summary>
/// A <see cref="Memory{T}"/> over a range of native pages, so that .NET's own
/// <see cref="System.Net.Sockets.Socket.SendAsync(ReadOnlyMemory{byte}, System.Net.Sockets.SocketFlags, System.Threading.CancellationToken)"/>
/// can send from them. Internal and minimal: the range is owned by a message whose ref outlives every use,
/// and native memory never moves, so pinning is a no-op.
/// </summary>
internal sealed unsafe class NativeMemoryManager : MemoryManager<byte>
{
    /// <summary>First byte of the current range. Owned by the one send using this manager.</summary>
    private nint _address;

    /// <summary>Bytes in the current range. Owned by the one send using this manager.</summary>
    private int _length;

    /// <summary>Points the manager at another range and returns memory over it.</summary>
    public Memory<byte> Reset(nint address, int length)
    {
        _address = address;
        _length = length;
        return Memory;
    }

    /// <inheritdoc/>
    public override Span<byte> GetSpan() => new((void*)_address, _length);

    /// <inheritdoc/>
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        // Checked as two comparisons, not one unsigned one, so the message names the index as the caller gave it.
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        return new MemoryHandle((byte*)_address + elementIndex);
    }

    /// <inheritdoc/>
    public override void Unpin()
    {
        // Native memory does not move: there is nothing to unpin.
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        // The range belongs to the message being sent; this manager owns nothing.
    }
}
