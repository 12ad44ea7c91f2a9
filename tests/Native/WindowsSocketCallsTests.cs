using System;
using System.Net.Sockets;
using NativeZcopy.Native;
using Xunit;
using static NativeZcopy.Native.Interop.Ws2_32;

namespace NativeZcopy.Tests.Native;

/// <summary>
/// The Windows send's platform-neutral parts: which pieces one WSASend offers, and when it gathers at all.
/// The call itself cannot run on these machines; the pieces here are never read, so their addresses are made up.
/// </summary>
public sealed class WindowsSocketCallsTests
{
    private const int MiB = 1 << 20;

    /// <summary>A made-up page for descriptors: FillBuffers only does arithmetic on addresses.</summary>
    private static readonly nint Page = unchecked((nint)0x10_0000_0000L);

    [Fact]
    public void The_first_piece_starts_at_the_offset_and_every_piece_that_fits_is_offered()
    {
        BioVec[] pieces = [Piece(0, 100), Piece(4096, 200), Piece(8192, 300)];
        var buffers = new WSABUF[MaxBuffersPerCall];

        int count = WindowsSocketCalls.FillBuffers(pieces, 40, buffers, out nint requested);

        Assert.Equal(3, count);
        Assert.Equal(60 + 200 + 300, requested);
        Assert.Equal(Page + 40, buffers[0].Pointer);
        Assert.Equal(60u, buffers[0].Length);
        Assert.Equal(Page + 4096, buffers[1].Pointer);
        Assert.Equal(300u, buffers[2].Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(12345)]
    public void A_piece_longer_than_a_call_is_cut_to_MaxBytesPerCall(int offset)
    {
        BioVec[] pieces = [Piece(0, 64 * MiB), Piece(64 * MiB, 10)];
        var buffers = new WSABUF[MaxBuffersPerCall];

        int count = WindowsSocketCalls.FillBuffers(pieces, offset, buffers, out nint requested);

        Assert.Equal(1, count);
        Assert.Equal(WindowsSocketCalls.MaxBytesPerCall, requested);
        Assert.Equal((uint)WindowsSocketCalls.MaxBytesPerCall, buffers[0].Length);
        Assert.Equal(Page + offset, buffers[0].Pointer);
    }

    [Fact]
    public void A_later_piece_that_does_not_fit_waits_for_the_next_call_and_one_that_fits_exactly_goes()
    {
        var buffers = new WSABUF[MaxBuffersPerCall];
        Assert.Equal(1, WindowsSocketCalls.FillBuffers([Piece(0, 600 * 1024), Piece(MiB, 600 * 1024)], 0, buffers, out nint requested));
        Assert.Equal(600 * 1024, requested);

        Assert.Equal(2, WindowsSocketCalls.FillBuffers([Piece(0, MiB / 2), Piece(MiB, MiB / 2), Piece(2 * MiB, 1)], 0, buffers, out requested));
        Assert.Equal(MiB, requested);
    }

    [Fact]
    public void No_more_pieces_than_buffers_are_offered()
    {
        var pieces = new BioVec[MaxBuffersPerCall + 500];
        for (int i = 0; i < pieces.Length; i++)
        {
            pieces[i] = Piece(i * 64, 64);
        }

        var buffers = new WSABUF[MaxBuffersPerCall];
        Assert.Equal(MaxBuffersPerCall, WindowsSocketCalls.FillBuffers(pieces, 0, buffers, out nint requested));
        Assert.Equal(MaxBuffersPerCall * 64, requested);
    }

    [Fact]
    public void Only_a_non_blocking_socket_is_gathered()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.False(WindowsSocketCalls.CanGather(socket)); // .NET's default: a WSASend could block the thread
        socket.Blocking = false;
        Assert.True(WindowsSocketCalls.CanGather(socket));
    }

    private static BioVec Piece(int offset, int length) => new(Page, offset, length, entry: 1);
}
