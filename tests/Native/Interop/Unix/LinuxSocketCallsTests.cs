using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Threading.Tasks;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;
using static NativeZcopy.Native.Interop.Libc;

namespace NativeZcopy.Tests.Native.Interop.Unix;

[SupportedOSPlatform("linux")]
public sealed class LinuxSocketCallsTests
{
    [Fact]
    public void The_structs_have_the_kernel_abi_layout()
    {
        // LP64 Linux (x86-64, arm64): what the C headers give for these structs.
        Assert.Equal(16, Marshal.SizeOf<IoVec>());
        Assert.Equal(56, Marshal.SizeOf<MsgHdr>());
        Assert.Equal(16, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.Iov)));
        Assert.Equal(32, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.Control)));
        Assert.Equal(48, (int)Marshal.OffsetOf<MsgHdr>(nameof(MsgHdr.Flags)));
        Assert.Equal(16, Marshal.SizeOf<CMsgHdr>());
        Assert.Equal(16, Marshal.SizeOf<SockExtendedErr>());
        Assert.Equal(8, (int)Marshal.OffsetOf<SockExtendedErr>(nameof(SockExtendedErr.Info)));
    }

    [Fact]
    public async Task SendMessage_gathers_pieces_from_an_offset_and_stops_with_EAGAIN_when_the_buffer_is_full()
    {
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 16 * 1024, receiveBuffer: 16 * 1024);
        BioVec first = NativePages.Alloc(100);
        BioVec second = NativePages.Alloc(50);
        first.AsSpan().Fill(1);
        second.AsSpan().Fill(2);
        try
        {
            nint sent = LinuxSocketCalls.SendMessage(pair.Sender.SafeHandle, [first, second], 90, zeroCopy: false, out int errno, out nint requested);
            Assert.Equal(60, sent);
            Assert.Equal(0, errno);
            Assert.Equal(60, requested);
            byte[] received = await pair.ReadExactlyAsync(60);
            Assert.Equal(10, Array.LastIndexOf(received, (byte)1) + 1);
            Assert.Equal(50, received.AsSpan(10).Count((byte)2));

            // Nobody reads now: the non-blocking call must eventually refuse rather than wait.
            BioVec big = NativePages.Alloc(1 << 20);
            try
            {
                long total = 0;
                while ((sent = LinuxSocketCalls.SendMessage(pair.Sender.SafeHandle, [big], 0, zeroCopy: false, out errno, out requested)) > 0)
                {
                    total += sent;
                    Assert.True(total < 64L << 20, "a 16 KiB socket buffer took 64 MiB without refusing");
                }

                Assert.Equal(-1, sent);
                Assert.Equal(EAGAIN, errno);
                Assert.Equal(SocketError.WouldBlock, LinuxSocketCalls.ToSocketError(errno));
            }
            finally
            {
                NativePages.Put(big);
            }
        }
        finally
        {
            NativePages.Put(first);
            NativePages.Put(second);
        }
    }

    [Fact]
    public async Task SO_ZEROCOPY_is_taken_by_tcp_and_refused_by_a_unix_socket_with_its_errno()
    {
        using SocketPair tcp = await SocketPair.ConnectAsync(StreamKind.Tcp);
        Assert.True(LinuxSocketCalls.TryEnableZeroCopy(tcp.Sender.SafeHandle, out bool wasOn, out int errno));
        Assert.False(wasOn);
        Assert.Equal(0, errno);
        Assert.True(LinuxSocketCalls.TryEnableZeroCopy(tcp.Sender.SafeHandle, out wasOn, out errno));
        Assert.True(wasOn);                                  // the second call finds it on: numbers may be in use
        Assert.Equal(0, errno);
        Assert.Equal(ErrorQueueRead.Empty, LinuxSocketCalls.ReadErrorQueue(tcp.Sender.SafeHandle, out _, out _, out _, out errno));
        Assert.Equal(EAGAIN, errno);

        using SocketPair unix = await SocketPair.ConnectAsync(StreamKind.Unix);
        Assert.False(LinuxSocketCalls.TryEnableZeroCopy(unix.Sender.SafeHandle, out wasOn, out errno));
        Assert.False(wasOn);
        Assert.NotEqual(0, errno);
    }

    [Fact]
    public unsafe void An_error_queue_entry_is_a_completion_behind_other_control_data_or_truncated_or_other()
    {
        // Control data laid out as recvmsg leaves it: SCM_TIMESTAMPNS (16 + 16), SCM_TIMESTAMPING (16 + 48),
        // then IP_RECVERR with a zero-copy completion of calls 7..9 that the kernel copied.
        const int SoTimestampNs = 35, SoTimestamping = 37; // asm-generic values: x86-64 and arm64
        byte* control = stackalloc byte[256];
        new Span<byte>(control, 256).Clear();
        nuint offset = Put(control, 0, SOL_SOCKET, SoTimestampNs, 16);
        offset = Put(control, offset, SOL_SOCKET, SoTimestamping, 48);
        nuint errorAt = offset;
        offset = Put(control, offset, SOL_IP, IP_RECVERR, sizeof(SockExtendedErr) + 16);
        var error = (SockExtendedErr*)(control + errorAt + (nuint)sizeof(CMsgHdr));
        error->Origin = SO_EE_ORIGIN_ZEROCOPY;
        error->Code = SO_EE_CODE_ZEROCOPY_COPIED;
        error->Info = 7;
        error->Data = 9;

        Assert.Equal(ErrorQueueRead.Completion, LinuxSocketCalls.ParseErrorQueueEntry(control, offset, 0, out uint first, out uint last, out bool copied));
        Assert.Equal((7u, 9u, true), (first, last, copied));

        // Cut short by the kernel (MSG_CTRUNC): no room left for the IP_RECVERR header at all, or for all of
        // its sock_extended_err. The completion is lost, and the reader must say so, not "other".
        Assert.Equal(ErrorQueueRead.Truncated, LinuxSocketCalls.ParseErrorQueueEntry(control, errorAt, MSG_CTRUNC, out _, out _, out _));
        ((CMsgHdr*)(control + errorAt))->Length = (nuint)sizeof(CMsgHdr) + 8;
        Assert.Equal(ErrorQueueRead.Truncated, LinuxSocketCalls.ParseErrorQueueEntry(control, errorAt + (nuint)sizeof(CMsgHdr) + 8, MSG_CTRUNC, out _, out _, out _));

        // The same bytes whole, with no completion among them: another kind of entry, skipped.
        Assert.Equal(ErrorQueueRead.Other, LinuxSocketCalls.ParseErrorQueueEntry(control, errorAt, 0, out _, out _, out _));

        // A control message header at offset, with dataLength bytes after it; returns the next header's offset.
        static nuint Put(byte* control, nuint offset, int level, int type, int dataLength)
        {
            var header = (CMsgHdr*)(control + offset);
            header->Length = (nuint)(sizeof(CMsgHdr) + dataLength);
            header->Level = level;
            header->Type = type;
            return offset + ((header->Length + 7) & ~(nuint)7);
        }
    }

    [Fact]
    public async Task A_zero_copy_send_is_numbered_and_its_completion_read_from_the_error_queue()
    {
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        Assert.True(LinuxSocketCalls.TryEnableZeroCopy(pair.Sender.SafeHandle, out _, out _));
        BioVec run = NativePages.Alloc(32 * 1024);
        try
        {
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(run.Length, LinuxSocketCalls.SendMessage(pair.Sender.SafeHandle, [run], 0, zeroCopy: true, out _, out _));
            }

            await pair.ReadExactlyAsync(2 * run.Length);
            uint completed = 0;
            bool copied = false;
            for (int attempt = 0; attempt < 2000 && completed < 2; attempt++)
            {
                var read = LinuxSocketCalls.ReadErrorQueue(pair.Sender.SafeHandle, out uint first, out uint last, out bool wasCopied, out _);
                if (read == ErrorQueueRead.Completion)
                {
                    Assert.Equal(completed, first);
                    completed = last + 1;
                    copied |= wasCopied;
                }
                else
                {
                    Assert.Equal(ErrorQueueRead.Empty, read);
                    await Task.Delay(5);
                }
            }

            Assert.Equal(2u, completed);
            Assert.True(copied, "loopback reports that it copied");
        }
        finally
        {
            NativePages.Put(run);
        }
    }

    [Fact]
    public void Calls_on_a_closed_socket_are_refused_as_disposed()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        SafeHandle handle = socket.SafeHandle;
        socket.Dispose();
        BioVec run = NativePages.Alloc(10);
        try
        {
            Assert.Throws<ObjectDisposedException>(() => LinuxSocketCalls.SendMessage(handle, [run], 0, zeroCopy: false, out _, out _));
            Assert.Throws<ObjectDisposedException>(() => LinuxSocketCalls.TryEnableZeroCopy(handle, out _, out _));
            Assert.Throws<ObjectDisposedException>(() => LinuxSocketCalls.ReadErrorQueue(handle, out _, out _, out _, out _));
        }
        finally
        {
            NativePages.Put(run);
        }
    }

    [Theory]
    [InlineData(ECONNRESET, SocketError.ConnectionReset)]
    [InlineData(EPIPE, SocketError.Shutdown)]
    [InlineData(ENOTCONN, SocketError.NotConnected)]
    [InlineData(ENOBUFS, SocketError.NoBufferSpaceAvailable)]
    [InlineData(EPERM, SocketError.AccessDenied)]
    [InlineData(EACCES, SocketError.AccessDenied)]
    [InlineData(ECONNREFUSED, SocketError.ConnectionRefused)]
    [InlineData(EHOSTDOWN, SocketError.HostDown)]
    [InlineData(ENETRESET, SocketError.NetworkReset)]
    [InlineData(ESHUTDOWN, SocketError.Disconnecting)]
    [InlineData(99999, SocketError.SocketError)]
    public void Errno_maps_to_the_socket_error_dotnet_reports_and_the_exception_names_it(int errno, SocketError expected)
    {
        Assert.Equal(expected, LinuxSocketCalls.ToSocketError(errno));
        SocketException error = LinuxSocketCalls.Failure("sendmsg", errno, "in a test");
        Assert.Equal(expected, error.SocketErrorCode);
        Assert.Contains($"errno {errno}", error.Message, StringComparison.Ordinal);
    }
}
