using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Net;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Net;

public sealed class ZcopySocketExtensionsTests
{
    /// <summary>How long a test waits for the kernel's zero-copy completions before failing.</summary>
    private static readonly TimeSpan s_completionTimeout = TimeSpan.FromSeconds(20);

    /// <summary>A value a sender's context carries, to see whether anything captured that context.</summary>
    private static readonly AsyncLocal<object?> s_senderScope = new();

    [Theory]
    [InlineData(StreamKind.Tcp, ZcopySendFlags.None)]
    [InlineData(StreamKind.Unix, ZcopySendFlags.None)]
    [InlineData(StreamKind.Tcp, ZcopySendFlags.ZeroCopy)]
    public async Task Thousands_of_mixed_messages_arrive_byte_exact_and_every_ref_comes_back(StreamKind kind, ZcopySendFlags flags)
    {
        const int Messages = 2000;
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(kind);
        var random = new Random(42);
        var expected = new MemoryStream();
        var keptRuns = new List<BioVec>();
        var plans = new List<ZcopyMessage>();
        for (int m = 0; m < Messages; m++)
        {
            var message = new ZcopyMessage(allocator);

            // Header: an allocator fragment, written in place.
            BioVec header = allocator.Alloc(random.Next(8, 200));
            random.NextBytes(header.AsSpan());
            expected.Write(header.AsSpan());
            message.Add(header);

            // Data: a run of whole pages, either handed over or shared with the test, which keeps its ref.
            if (random.Next(3) > 0)
            {
                BioVec run = NativePages.Alloc(random.Next(1, 3 * NativePages.OsPageSize));
                random.NextBytes(run.AsSpan());
                BioVec slice = run.Slice(random.Next(run.Length / 2), run.Length / 3);
                expected.Write(slice.AsSpan());
                if (random.Next(2) == 0)
                {
                    message.AddRef(slice);
                    keptRuns.Add(run);
                }
                else
                {
                    message.Add(slice);
                }
            }

            // Managed bytes, copied into fragments; sometimes more than one fragment's worth.
            byte[] managed = new byte[random.Next(0, m % 50 == 0 ? 70_000 : 600)];
            random.NextBytes(managed);
            expected.Write(managed);
            message.AddSpliced(managed);

            // A trailer spliced from inside a native page: a ref, no copy.
            if (keptRuns.Count > 0 && random.Next(4) == 0)
            {
                BioVec source = keptRuns[^1];
                ReadOnlySpan<byte> trailer = source.AsSpan().Slice(0, 16);
                expected.Write(trailer);
                message.AddSpliced(trailer);
            }

            plans.Add(message);
        }

        Task<byte[]> received = pair.ReadExactlyAsync(expected.Length);
        long sent = 0;
        foreach (ZcopyMessage message in plans)
        {
            long length = message.Length;
            Assert.Equal(length, await pair.Sender.SendZcopyAsync(message, flags));
            Assert.Throws<ObjectDisposedException>(() => message.AddSpliced(new byte[1]));
            sent += length;
        }

        Assert.Equal(expected.Length, sent);
        Assert.Equal(expected.ToArray(), await received);
        await AssertNothingPendingAsync(pair.Sender);
        if (flags == ZcopySendFlags.ZeroCopy)
        {
            ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
            Assert.Equal(SocketError.Success, statistics.ZeroCopyUnavailable);
            Assert.True(statistics.ZeroCopySendCalls > 0, $"no call went zero-copy: {statistics}");
            Assert.Equal(statistics.ZeroCopySendCalls, statistics.CompletedSendCalls);
        }

        AssertReleasedOnce(keptRuns);
        AssertNoLiveFolios(allocator);
    }

    [Theory]
    [InlineData(StreamKind.Tcp, ZcopySendFlags.None)]
    [InlineData(StreamKind.Tcp, ZcopySendFlags.ZeroCopy)]
    [InlineData(StreamKind.Unix, ZcopySendFlags.None)]
    public async Task A_message_larger_than_the_socket_buffers_waits_for_a_slow_reader(StreamKind kind, ZcopySendFlags flags)
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(kind, sendBuffer: 64 * 1024, receiveBuffer: 64 * 1024);
        var (message, expected, runs) = BuildLargeMessage(allocator, runCount: 8, runSize: 1 << 20, seed: 7);

        ValueTask<long> sending = pair.Sender.SendZcopyAsync(message, flags);
        Assert.False(sending.IsCompleted, "8 MiB cannot fit in 128 KiB of socket buffers: the send must have waited.");
        byte[] received = await pair.ReadExactlyAsync(expected.Length, chunk: 16 * 1024, pauseEvery: 16);
        Assert.Equal(expected.Length, await sending);
        Assert.Equal(expected, received);

        // The waits went through .NET's own send, which copies: counted for a ZeroCopy message only.
        ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
        Assert.True((flags == ZcopySendFlags.ZeroCopy) == (statistics.FullBufferCopies > 0), $"{flags}: {statistics}");
        await AssertEverythingReleasedAsync(pair.Sender, runs, allocator);
    }

    [Theory]
    [InlineData(ZcopySendFlags.None)]
    [InlineData(ZcopySendFlags.ZeroCopy)]
    public async Task More_entries_than_IOV_MAX_go_out_in_order(ZcopySendFlags flags)
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        var message = new ZcopyMessage(allocator);
        var expected = new MemoryStream();
        for (int i = 0; i < 3 * 1024 + 17; i++)
        {
            BioVec piece = allocator.Alloc(1 + (i % 97));
            piece.AsSpan().Fill((byte)(i * 31));
            expected.Write(piece.AsSpan());
            message.Add(piece);
        }

        Assert.Equal(3 * 1024 + 17, message.Count);
        Task<byte[]> received = pair.ReadExactlyAsync(expected.Length);
        Assert.Equal(expected.Length, await pair.Sender.SendZcopyAsync(message, flags));
        Assert.Equal(expected.ToArray(), await received);
        await AssertNothingPendingAsync(pair.Sender);
        AssertNoLiveFolios(allocator);
    }

    [Fact]
    public async Task ZeroCopy_on_loopback_holds_the_refs_until_the_kernel_reports_completion()
    {
        var allocator = new ZcopyAllocator();

        // The peer's window is far smaller than the first messages together: while nobody reads, the kernel
        // cannot report the later ones complete, so their refs must still stand beside the test's.
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 1 << 20, receiveBuffer: 64 * 1024);
        const int Messages = 200;
        const int SentUnread = 8;
        const int RunLength = 64 * 1024;
        var runs = new List<BioVec>();
        var expected = new MemoryStream();
        Task<byte[]>? received = null;
        for (int i = 0; i < Messages; i++)
        {
            if (i == SentUnread)
            {
                AssertHeldWhileUnread(pair.Sender, runs);
                received = pair.ReadExactlyAsync(Messages * (64 + RunLength));
            }

            var message = new ZcopyMessage(allocator);
            BioVec header = allocator.Alloc(64);
            header.AsSpan().Fill((byte)i);
            BioVec run = NativePages.Alloc(RunLength);
            run.AsSpan().Fill((byte)~i);
            expected.Write(header.AsSpan());
            expected.Write(run.AsSpan());
            message.Add(header);
            message.AddRef(run);
            runs.Add(run);
            await pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);

            // Until the kernel says otherwise the message's ref stands beside ours; never a third.
            Assert.InRange(NativePages.RefCount(run.Page), 1, 2);
        }

        Assert.Equal(expected.ToArray(), await received!);
        await AssertNothingPendingAsync(pair.Sender);
        ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
        Assert.Equal(SocketError.Success, statistics.ZeroCopyUnavailable);
        Assert.True(statistics.ZeroCopySendCalls > 0, $"no call went zero-copy: {statistics}");
        Assert.Equal(statistics.ZeroCopySendCalls, statistics.CompletedSendCalls);
        Assert.True(statistics.CompletionNotifications > 0);

        // Every message went back through its completions, with the socket open: none was let go at a close.
        Assert.Equal(0, statistics.AbandonedMessages);

        // Loopback hands the pages to the receiving socket by copying them, and says so.
        Assert.True(statistics.CopiedSendCalls > 0, $"loopback should report copies: {statistics}");
        AssertReleasedOnce(runs);
        AssertNoLiveFolios(allocator);
    }

    /// <summary>
    /// With nothing read, the messages whose bytes lie beyond twice the peer's receive buffer cannot have
    /// been acknowledged, so the kernel has not reported them complete: each still holds its ref.
    /// </summary>
    private static void AssertHeldWhileUnread(Socket sender, List<BioVec> runs)
    {
        ZcopySocketStatistics statistics = sender.GetZcopyStatistics();
        Assert.Equal(0, statistics.CopyingFallbackSends); // every message took kernel numbers, so waits for them
        Assert.True(statistics.CompletedSendCalls < statistics.ZeroCopySendCalls, $"the kernel reported unread bytes sent: {statistics}");
        for (int i = runs.Count / 2; i < runs.Count; i++)
        {
            Assert.True(NativePages.RefCount(runs[i].Page) == 2, $"message {i} of {runs.Count} let its run go before its completion: {statistics}");
        }

        Assert.True(statistics.PendingMessages >= runs.Count / 2, $"fewer messages pending than hold refs: {statistics}");
    }

    [Fact]
    public async Task ZeroCopy_completions_are_read_behind_the_timestamps_an_application_turned_on()
    {
        // With SO_TIMESTAMPNS and SO_TIMESTAMPING on, every error-queue entry carries two timestamp control
        // messages ahead of the IP_RECVERR that holds the completion: the reader must walk past them, and its
        // control buffer must hold all three.
        const int SolSocket = 1, SoTimestampNs = 35, SoTimestamping = 37; // asm-generic values: x86-64 and arm64
        const int TimestampingSoftware = 0x10 | 0x2; // SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 1 << 20, receiveBuffer: 1 << 20);
        pair.Sender.SetRawSocketOption(SolSocket, SoTimestampNs, BitConverter.GetBytes(1));
        pair.Sender.SetRawSocketOption(SolSocket, SoTimestamping, BitConverter.GetBytes(TimestampingSoftware));

        const int Messages = 16;
        const int RunLength = 16 * 1024;
        Task<byte[]> received = pair.ReadExactlyAsync(Messages * RunLength);
        var runs = new List<BioVec>();
        var expected = new MemoryStream();
        for (int i = 0; i < Messages; i++)
        {
            BioVec run = NativePages.Alloc(RunLength);
            run.AsSpan().Fill((byte)(i + 1));
            expected.Write(run.AsSpan());
            var message = new ZcopyMessage(allocator);
            message.AddRef(run);
            runs.Add(run);
            await pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);
        }

        Assert.Equal(expected.ToArray(), await received);
        await AssertNothingPendingAsync(pair.Sender);
        ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
        Assert.True(statistics.ZeroCopySendCalls > 0, $"no call went zero-copy: {statistics}");
        Assert.Equal(statistics.ZeroCopySendCalls, statistics.CompletedSendCalls);
        Assert.Equal(0, statistics.AbandonedMessages);
        Assert.Equal(0, statistics.TruncatedErrorQueueEntries);
        AssertReleasedOnce(runs);
        AssertNoLiveFolios(allocator);
    }

    /// <summary>
    /// A socket closed with a ZeroCopy message pending releases the message, whether it is shut down first (the
    /// graceful close the README names, after which the peer reads every byte) or just disposed, as most users
    /// do (which .NET may turn into a reset when the drain timer's read holds the handle, so the peer's bytes
    /// are not checked then).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ZeroCopy_messages_still_pending_when_the_socket_is_closed_are_released(bool shutDownFirst)
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 1 << 20, receiveBuffer: 64 * 1024);
        var (message, expected, runs) = BuildLargeMessage(allocator, runCount: 1, runSize: 512 * 1024, seed: 13);

        // The send buffer takes the whole message, but the peer's window cannot: part of it stays
        // unacknowledged, so the kernel cannot report the send complete while nobody reads.
        Assert.Equal(expected.Length, await pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy));
        Assert.Equal(1, pair.Sender.GetZcopyStatistics().PendingMessages);

        // Closed with the completion still to come: the error queue goes with the socket, so the message
        // is released without it. The kernel keeps its own references and, closed gracefully, still delivers
        // every byte.
        if (shutDownFirst)
        {
            CloseWithMessagesPending(pair.Sender);
        }
        else
        {
            pair.Sender.Dispose();
        }

        await AssertEverythingReleasedAsync(pair.Sender, runs, allocator);
        Assert.Equal(1, pair.Sender.GetZcopyStatistics().AbandonedMessages);
        if (shutDownFirst)
        {
            Assert.Equal(expected, await pair.ReadExactlyAsync(expected.Length));
        }
    }

    /// <summary>
    /// The timer that drains completions while nobody sends is created inside the first sender's context.
    /// It must not capture that context: it would keep the sender's AsyncLocal values alive for as long as
    /// the socket lives (found by a review in session 9).
    /// </summary>
    [Fact]
    public async Task The_completion_timer_does_not_keep_the_first_senders_async_locals_alive()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 1 << 20, receiveBuffer: 64 * 1024);
        var (message, expected, runs) = BuildLargeMessage(allocator, runCount: 1, runSize: 512 * 1024, seed: 17);
        WeakReference flowed = await SendWithAnAsyncLocalAsync(pair.Sender, message, expected.Length);

        // The message waits on the peer's window, so the drain timer is armed and holds what it captured.
        Assert.Equal(1, pair.Sender.GetZcopyStatistics().PendingMessages);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(flowed.IsAlive, "the drain timer kept the first sender's AsyncLocal value alive");

        Assert.Equal(expected, await pair.ReadExactlyAsync(expected.Length));
        await AssertEverythingReleasedAsync(pair.Sender, runs, allocator);
    }

    /// <summary>Sends <paramref name="message"/> with an AsyncLocal set; the value is gone when this returns.</summary>
    private static async Task<WeakReference> SendWithAnAsyncLocalAsync(Socket socket, ZcopyMessage message, int length)
    {
        var scope = new object();
        s_senderScope.Value = scope;
        Assert.Equal(length, await socket.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy));
        return new WeakReference(scope);
    }

    /// <summary>
    /// The kernel may go on sending a message's bytes after its socket is closed, and nobody can learn when
    /// it is done: the allocator must not hand those bytes out again meanwhile. Before the fix the folios
    /// were reissued in place and the peer received the next pieces' bytes (found by a review in session 9).
    /// </summary>
    [Fact]
    public async Task ZeroCopy_messages_abandoned_at_close_are_quarantined_so_new_pieces_never_rewrite_their_bytes()
    {
        // Retention and one arena make reuse certain: a folio released whole goes to the stash, and the
        // allocations below take every folio the stash and the arena have.
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = 16 }, NativeZcopy.Native.PageSource.Os, processors: 1);
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 1 << 20, receiveBuffer: 64 * 1024);
        var message = new ZcopyMessage(allocator);
        byte[] data = new byte[256 * 1024];
        Array.Fill(data, (byte)0x11);
        message.AddSpliced(data);
        Assert.Equal(data.Length, await pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy));
        CloseWithMessagesPending(pair.Sender);
        await WaitUntilNothingPendingAsync(pair.Sender);
        Assert.Equal(1, pair.Sender.GetZcopyStatistics().AbandonedMessages);

        // Ordinary use of the allocator after the message was released: none of it may land in its bytes.
        var others = new List<BioVec>();
        for (int i = 0; i < 4096; i++)
        {
            BioVec piece = allocator.Alloc(1024);
            piece.AsSpan().Fill(0x22);
            others.Add(piece);
        }

        byte[] received = await pair.ReadExactlyAsync(data.Length);
        Assert.Equal(-1, Array.FindIndex(received, b => b != 0x11));
        NativePages.PutBatch(others.ToArray());
        allocator.Dispose();
        allocator.Trim(); // threads' deferred releases of the last pieces
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    /// <summary>
    /// Closes a socket whose ZeroCopy messages are still pending, gracefully, so the peer still reads every
    /// byte. A plain Dispose is not graceful then: the drain timer reads the error queue through the socket's
    /// handle, and a Dispose that lands inside such a read finds the handle in use, which .NET resolves by
    /// disconnecting the socket (a reset; the peer's read fails with ConnectionReset) unless its sending side
    /// was shut down. A test run under CPU load failed so once; a stress of this close (a Dispose 0-3 ms after
    /// the send, 6 busy loops on 2 cores) reset 25 of 3,592 connections, and none of 2,744 with the shutdown
    /// first (README: waiting for the completions, or shutting down first, keeps the close graceful).
    /// </summary>
    private static void CloseWithMessagesPending(Socket sender)
    {
        sender.Shutdown(SocketShutdown.Send);
        sender.Dispose();
    }

    private static async Task WaitUntilNothingPendingAsync(Socket socket)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(20);
        while (socket.GetZcopyStatistics().PendingMessages > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "messages still pending after 20 s");
            await Task.Delay(5);
        }
    }

    /// <summary>
    /// The kernel charges each zero-copy call about 800 bytes of the socket's option memory (optmem_max, 128 KiB
    /// by default) until the peer acknowledges its bytes and its notification is read, and refuses a call with
    /// ENOBUFS when that is full. One-byte messages sent back to back on loopback now and then get ahead of the
    /// acknowledgements (a delayed ACK) by the 170 or so calls that fill it: here after 11,000-23,000
    /// messages. A refused call is made again without MSG_ZEROCOPY; the kernel spent no number on it
    /// (msg_zerocopy_alloc fails before taking one), so every call before and after it still completes.
    /// </summary>
    [Fact]
    public async Task ZeroCopy_sends_the_kernel_refuses_with_ENOBUFS_are_copied_in_order_and_zero_copy_resumes()
    {
        // Far more than the default optmem_max needs; with a much larger one the acknowledgements may always
        // keep ahead, and the test fails naming it rather than hanging.
        const int MaxMessagesBeforeRefusal = 100_000;
        const int RefusedMessages = 10;
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        var expected = new List<byte>();
        while (pair.Sender.GetZcopyStatistics().CopyingFallbackSends < RefusedMessages)
        {
            Assert.True(expected.Count < MaxMessagesBeforeRefusal, $"no ENOBUFS after {expected.Count} one-byte ZeroCopy sends (optmem_max {OptionMemoryLimit()})");
            await SendOneByteAsync(pair.Sender, allocator, expected);
        }

        // Once every call completed and its notification was read, the option memory is free again: the next
        // message goes zero-copy.
        Assert.Equal(expected.ToArray(), await pair.ReadExactlyAsync(expected.Count));
        await AssertNothingPendingAsync(pair.Sender);
        ZcopySocketStatistics refused = pair.Sender.GetZcopyStatistics();
        var last = new List<byte>();
        await SendOneByteAsync(pair.Sender, allocator, last);
        Assert.Equal(last.ToArray(), await pair.ReadExactlyAsync(1));
        await AssertNothingPendingAsync(pair.Sender);
        ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
        Assert.True(statistics.ZeroCopySendCalls == refused.ZeroCopySendCalls + 1, $"the send after the drain did not go zero-copy: {statistics}");
        Assert.Equal(refused.CopyingFallbackSends, statistics.CopyingFallbackSends);

        // One call a message, as each is one byte: numbered by the kernel, refused and copied, or copied by the
        // wait for room (loopback moves unread bytes to the receiver's queue, so the send buffer empties).
        Assert.Equal(expected.Count + 1, statistics.ZeroCopySendCalls + statistics.CopyingFallbackSends + statistics.FullBufferCopies);
        Assert.Equal(statistics.ZeroCopySendCalls, statistics.CompletedSendCalls);
        AssertNoLiveFolios(allocator);
    }

    /// <summary>Sends a ZeroCopy message of one byte of a 251-cycle, and notes it in <paramref name="sent"/>.</summary>
    private static async Task SendOneByteAsync(Socket sender, ZcopyAllocator allocator, List<byte> sent)
    {
        byte value = (byte)(sent.Count % 251);
        var message = new ZcopyMessage(allocator);
        BioVec piece = allocator.Alloc(1);
        piece.AsSpan()[0] = value;
        message.Add(piece);
        sent.Add(value);
        using var timeout = new CancellationTokenSource(s_completionTimeout);
        await sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy, timeout.Token);
    }

    /// <summary>The host's per-socket option memory limit, for a failure message.</summary>
    private static string OptionMemoryLimit() =>
        File.Exists("/proc/sys/net/core/optmem_max") ? File.ReadAllText("/proc/sys/net/core/optmem_max").Trim() : "unknown";

    [Fact]
    public async Task ZeroCopy_on_a_unix_socket_falls_back_to_copying_and_says_why()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Unix);
        var runs = new List<BioVec>();
        Task<byte[]> received = pair.ReadExactlyAsync(3 * 5000);
        for (int i = 0; i < 3; i++)
        {
            BioVec run = NativePages.Alloc(5000);
            run.AsSpan().Fill((byte)(i + 1));
            var message = new ZcopyMessage(allocator);
            message.AddRef(run);
            await pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);

            // A copying send drops the message's ref before it completes.
            Assert.Equal(1, NativePages.RefCount(run.Page));
            runs.Add(run);
        }

        byte[] bytes = await received;
        for (int i = 0; i < 3; i++)
        {
            Assert.True(Array.TrueForAll(bytes[(i * 5000)..((i + 1) * 5000)], b => b == i + 1), $"message {i} arrived altered");
        }

        ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
        Assert.NotEqual(SocketError.Success, statistics.ZeroCopyUnavailable);
        Assert.Equal(3, statistics.CopyingFallbackSends);
        Assert.Equal(0, statistics.ZeroCopySendCalls);
        AssertReleasedOnce(runs);
        AssertNoLiveFolios(allocator);
    }

    [Theory]
    [InlineData(ZcopySendFlags.None)]
    [InlineData(ZcopySendFlags.ZeroCopy)]
    public async Task A_peer_reset_mid_send_is_a_socket_exception_and_every_ref_is_released_once(ZcopySendFlags flags)
    {
        var allocator = new ZcopyAllocator();
        var (pair, runs, sending) = await StartStalledSendAsync(allocator, flags, CancellationToken.None);
        using (pair)
        {
            pair.ResetReceiver();
            SocketException error = await Assert.ThrowsAsync<SocketException>(async () => await sending);
            Assert.Contains(error.SocketErrorCode, new[] { SocketError.ConnectionReset, SocketError.Shutdown, SocketError.ConnectionAborted });
            await AssertEverythingReleasedAsync(pair.Sender, runs, allocator);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_send_that_drops_a_folios_last_reference_reports_the_send_not_a_refused_unmap(bool peerGone)
    {
        // The send's release of the message is the folio's final release, and the OS refuses the unmap. That
        // loses nothing (the folio is kept and retried), so the caller hears what became of the send: its bytes
        // went out (an error would have it send them again), or its own SocketException.
        var source = new FaultInjectingPageSource();
        ZcopyAllocator allocator = LastReferenceOfAFolio.NewAllocator(source);
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        using var message = new ZcopyMessage(allocator);
        message.Add(LastReferenceOfAFolio.Cut(allocator, fill: 7));
        long mapped = source.BytesMapped;
        source.FailUnmaps = true;

        if (peerGone)
        {
            // On loopback the reset has almost always reached the sender when Close returns, but the kernel
            // may leave its processing to a softirq thread under load: wait until the sender's socket shows it
            // (readable or hung up: the peer sent nothing else), so the send below meets a reset connection.
            pair.ResetReceiver();
            Assert.True(pair.Sender.Poll(TimeSpan.FromSeconds(20), SelectMode.SelectRead), "The reset did not reach the sender.");
            await Assert.ThrowsAsync<SocketException>(async () => await pair.Sender.SendZcopyAsync(message));
        }
        else
        {
            Task<byte[]> received = pair.ReadExactlyAsync(LastReferenceOfAFolio.PieceLength);
            Assert.Equal(LastReferenceOfAFolio.PieceLength, await pair.Sender.SendZcopyAsync(message));
            Assert.True(Array.TrueForAll(await received, b => b == 7));
        }

        Assert.Equal(mapped, source.BytesMapped);       // the folio was released and its unmap refused
        source.FailUnmaps = false;
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Theory]
    [InlineData(ZcopySendFlags.None)]
    [InlineData(ZcopySendFlags.ZeroCopy)]
    public async Task Cancellation_stops_a_waiting_send_and_releases_the_refs(ZcopySendFlags flags)
    {
        var allocator = new ZcopyAllocator();
        using var cancellation = new CancellationTokenSource();
        var (pair, runs, sending) = await StartStalledSendAsync(allocator, flags, cancellation.Token);
        using (pair)
        {
            await cancellation.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await sending);

            // Close the connection so the kernel lets go of what it queued, then check every ref came back.
            pair.ResetReceiver();
            await AssertEverythingReleasedAsync(pair.Sender, runs, allocator);
        }
    }

    [Fact]
    public async Task A_token_cancelled_before_the_send_releases_the_message_at_once()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        BioVec run = NativePages.Alloc(100);
        var message = new ZcopyMessage(allocator);
        message.AddRef(run);
        message.AddSpliced(new byte[10]);
        ValueTask<long> sending = pair.Sender.SendZcopyAsync(message, cancellationToken: new CancellationToken(true));
        Assert.True(sending.IsCanceled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await sending);
        AssertReleasedOnce([run]);
        AssertNoLiveFolios(allocator);
    }

    [Fact]
    public async Task Bad_messages_and_bad_sockets_are_refused_and_release_the_message()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);

        var disposed = new ZcopyMessage(allocator);
        disposed.AddSpliced(new byte[5]);
        disposed.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await pair.Sender.SendZcopyAsync(disposed));

        var twice = new ZcopyMessage(allocator);
        twice.AddSpliced(new byte[5]);
        Task<byte[]> received = pair.ReadExactlyAsync(5);
        Assert.Equal(5, await pair.Sender.SendZcopyAsync(twice));
        await received;
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await pair.Sender.SendZcopyAsync(twice));

        var runs = new List<BioVec>();
        using (var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            udp.Connect(new IPEndPoint(IPAddress.Loopback, 9));
            var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await udp.SendZcopyAsync(MessageSharing(allocator, runs)));
            Assert.Contains("Dgram", error.Message, StringComparison.Ordinal);
            Assert.EndsWith("The send took the message and released its entries.", error.Message, StringComparison.Ordinal);
        }

        using (var unconnected = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await unconnected.SendZcopyAsync(MessageSharing(allocator, runs), ZcopySendFlags.ZeroCopy));
            Assert.Contains("not connected", error.Message, StringComparison.Ordinal);
            Assert.EndsWith("The send took the message and released its entries.", error.Message, StringComparison.Ordinal);
        }

        var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Dispose();
        var closedError = await Assert.ThrowsAsync<ObjectDisposedException>(async () => await closed.SendZcopyAsync(MessageSharing(allocator, runs)));
        Assert.Contains("The send took the message and released its entries.", closedError.Message, StringComparison.Ordinal);

        AssertReleasedOnce(runs);
        AssertNoLiveFolios(allocator);
    }

    [Fact]
    public async Task Unknown_flags_are_refused_naming_them_and_leave_the_message_the_callers()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        using var message = new ZcopyMessage(allocator);
        message.AddSpliced(new byte[] { 1, 2, 3 });

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await pair.Sender.SendZcopyAsync(message, (ZcopySendFlags)6));

        Assert.Equal("flags", error.ParamName);
        Assert.Contains("0x6", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, message.Count);
        Task<byte[]> received = pair.ReadExactlyAsync(3);
        Assert.Equal(3, await pair.Sender.SendZcopyAsync(message));
        Assert.Equal(new byte[] { 1, 2, 3 }, await received);
    }

    /// <summary>
    /// A page run added twice on its one reference (misuse): the bytes go out, so the send reports them sent,
    /// not an error a caller would answer by sending again, and the run's one reference is dropped, so nothing
    /// stays mapped (refusing the release whole kept it mapped for good).
    /// </summary>
    [Fact]
    public async Task A_copying_send_of_a_run_added_twice_reports_the_bytes_sent_and_leaves_nothing_mapped()
    {
        var source = new FaultInjectingPageSource();
        var owner = new PageRunOwner(source);
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        BioVec run = NativePages.Alloc(100, owner);
        var message = new ZcopyMessage();
        message.Add(run);
        message.Add(run);
        Task<byte[]> received = pair.ReadExactlyAsync(200);

        Assert.Equal(200, await pair.Sender.SendZcopyAsync(message));

        await received;
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>
    /// A piece released behind the message's back after it was added names a page that may belong to someone
    /// else by the time the message is sent: the send refuses the whole message before any byte goes out, and
    /// releases the entries that are still live.
    /// </summary>
    [Theory]
    [InlineData(ZcopySendFlags.None, false)]
    [InlineData(ZcopySendFlags.ZeroCopy, false)]
    [InlineData(ZcopySendFlags.ZeroCopy, true)]
    public async Task A_message_with_an_entry_released_after_it_was_added_is_refused_before_any_byte_goes_out(ZcopySendFlags flags, bool tracked)
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = tracked });
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        BioVec header = allocator.Alloc(16);
        header.AsSpan().Fill((byte)'H');
        BioVec neighbour = allocator.Alloc(16);                       // keeps a tracked piece's folio alive
        BioVec released = tracked ? allocator.Alloc(4000) : NativePages.Alloc(8192);
        released.AsSpan().Fill((byte)'R');
        var message = new ZcopyMessage(allocator);
        message.Add(header);
        message.Add(released);
        NativePages.Put(released);                                    // untracked: the page is unmapped

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await pair.Sender.SendZcopyAsync(message, flags));

        Assert.Contains("Entry 1 of the message", error.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{released.Page:X}", error.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => message.AddSpliced(new byte[1]));
        NativePages.Put(neighbour);
        Assert.Empty(allocator.GetOutstandingFragments());            // tracked: the header was released, once
        allocator.Dispose();
        AssertNoLiveFolios(allocator);

        // Nothing of the refused message reached the wire: the next message's bytes are the first to arrive.
        var next = new ZcopyMessage();
        next.AddSpliced("OK"u8);
        Task<byte[]> received = pair.ReadExactlyAsync(2);
        Assert.Equal(2, await pair.Sender.SendZcopyAsync(next, flags));
        Assert.Equal("OK"u8.ToArray(), await received);
    }

    /// <summary>
    /// When the refused message's live entries cannot all be released either (a page run added twice on one
    /// reference), the refusal is still what the caller reads, with the release's failure inside it.
    /// </summary>
    [Fact]
    public async Task A_refused_message_reports_the_released_entry_even_when_releasing_the_others_fails_too()
    {
        BioVec twice = NativePages.Alloc(100);
        BioVec released = NativePages.Alloc(100);
        var message = new ZcopyMessage();
        message.Add(twice);
        message.Add(twice);                                       // one reference, handed over twice: misuse
        message.Add(released);
        NativePages.Put(released);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await socket.SendZcopyAsync(message));

        Assert.Contains("Entry 2 of the message", error.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{twice.Page:X}", error.InnerException!.Message, StringComparison.Ordinal);
        Assert.False(NativePages.IsCurrent(twice));               // its one reference dropped, then the excess reported
    }

    [Fact]
    public async Task Overlapping_ZeroCopy_sends_on_one_socket_are_refused()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 64 * 1024, receiveBuffer: 64 * 1024);
        var (message, expected, runs) = BuildLargeMessage(allocator, runCount: 4, runSize: 1 << 20, seed: 11);
        ValueTask<long> first = pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);
        Assert.False(first.IsCompleted);

        var second = MessageSharing(allocator, runs);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await pair.Sender.SendZcopyAsync(second, ZcopySendFlags.ZeroCopy));
        Assert.Contains("overlap", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("The send took the message and released its entries.", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, second.Count);

        Assert.Equal(expected, await pair.ReadExactlyAsync(expected.Length));
        Assert.Equal(expected.Length, await first);
        await AssertEverythingReleasedAsync(pair.Sender, runs, allocator);
    }

    /// <summary>
    /// WaitForZcopyCompletionsAsync completes only once the kernel has reported every ZeroCopy page done and
    /// the refs are dropped: not while the peer has not read (its ACKs are what complete the sends), and a
    /// cancelled wait releases nothing early. A socket with nothing pending, or that never sent ZeroCopy,
    /// completes at once.
    /// </summary>
    [Fact]
    public async Task WaitForZcopyCompletionsAsync_completes_when_the_kernel_is_done_with_every_page()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 1 << 20, receiveBuffer: 64 * 1024);
        Assert.True(pair.Sender.WaitForZcopyCompletionsAsync().IsCompletedSuccessfully);     // no ZeroCopy send yet

        // Far more than the peer's window while it does not read: the later sends cannot complete.
        var (message, expected, runs) = BuildLargeMessage(allocator, runCount: 2, runSize: 256 * 1024, seed: 5);
        ValueTask<long> sending = pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);
        Task waiting = pair.Sender.WaitForZcopyCompletionsAsync();
        using (var shortly = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pair.Sender.WaitForZcopyCompletionsAsync(shortly.Token));
        }

        Assert.False(waiting.IsCompleted, "nothing was read, so the kernel cannot be done with the pages");
        Assert.True(pair.Sender.GetZcopyStatistics().PendingMessages > 0);
        Assert.Contains(runs, run => NativePages.RefCount(run.Page) > 1);                   // the message's refs still stand

        Assert.Equal(expected, await pair.ReadExactlyAsync(expected.Length));
        Assert.Equal(expected.Length, await sending);
        await waiting.WaitAsync(s_completionTimeout);

        Assert.Equal(0, pair.Sender.GetZcopyStatistics().PendingMessages);
        AssertReleasedOnce(runs);                                                            // refs dropped before it completed
        Assert.True(pair.Sender.WaitForZcopyCompletionsAsync().IsCompletedSuccessfully);
        AssertNoLiveFolios(allocator);
    }

    /// <summary>
    /// The kernel numbers zero-copy calls per socket. Two Socket objects over one socket (a handle wrapped
    /// again) must not both number them: the first to send ZeroCopy does, the other's ZeroCopy sends copy, and
    /// every message of both is released once the kernel is done. Both send in turn, so each one's completion
    /// could be read by the other's drain.
    /// </summary>
    [Fact]
    public async Task A_second_Socket_over_one_kernel_socket_copies_its_ZeroCopy_sends_and_every_message_is_released()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        using var wrapper = new Socket(new SafeSocketHandle(pair.Sender.Handle, ownsHandle: false));
        var expected = new MemoryStream();
        var messages = new List<(Socket Via, ZcopyMessage Message)>();
        for (int i = 0; i < 6; i++)
        {
            var message = new ZcopyMessage(allocator);
            BioVec piece = allocator.Alloc(1000);
            piece.AsSpan().Fill((byte)('a' + i));
            expected.Write(piece.AsSpan());
            message.Add(piece);
            messages.Add((i % 2 == 0 ? wrapper : pair.Sender, message));
        }

        Task<byte[]> received = pair.ReadExactlyAsync(expected.Length);
        foreach ((Socket via, ZcopyMessage message) in messages)
        {
            await via.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);
        }

        Assert.Equal(expected.ToArray(), await received);
        await wrapper.WaitForZcopyCompletionsAsync().WaitAsync(s_completionTimeout);
        await pair.Sender.WaitForZcopyCompletionsAsync().WaitAsync(s_completionTimeout);
        Assert.Equal(3, wrapper.GetZcopyStatistics().ZeroCopySendCalls);
        Assert.Equal(3, wrapper.GetZcopyStatistics().CompletedSendCalls);
        Assert.Equal(3, pair.Sender.GetZcopyStatistics().CopyingFallbackSends);
        Assert.Equal(0, pair.Sender.GetZcopyStatistics().ZeroCopySendCalls);
        AssertNoLiveFolios(allocator);
    }

    /// <summary>
    /// Each kernel socket numbers its own ZeroCopy sends: many connections one after another, with collections
    /// between them, each send zero-copy (none is mistaken for another's second object).
    /// </summary>
    [Fact]
    public async Task Every_new_connection_sends_ZeroCopy_itself()
    {
        var allocator = new ZcopyAllocator();
        for (int i = 0; i < 80; i++)
        {
            await SendOneZeroCopyMessageAsync(allocator, i);
            if (i % 20 == 19)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }

        AssertNoLiveFolios(allocator);
    }

    /// <summary>
    /// The kernel's zero-copy numbering runs for the socket's whole life. A wrapper that sent ZeroCopy and was
    /// then collected leaves the kernel's counter at 5; a second wrapper counting from 0 credited the kernel's
    /// completions of numbers 5-8 to messages it had not sent yet, released them, and a new piece cut from the
    /// reissued folio went out in their place, while five messages stayed pending for good. It must copy.
    /// </summary>
    [Fact]
    public async Task A_Socket_over_a_kernel_socket_whose_earlier_wrapper_sent_ZeroCopy_and_was_collected_copies()
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = 64 });
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 1 << 20, receiveBuffer: 64 * 1024);
        WeakReference first = await SendThroughAWrapperAndDropItAsync(pair, allocator, messages: 5);
        for (int i = 0; i < 50 && first.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(10); // the completion timer lets go of the state once its last tick has run
        }

        Assert.False(first.IsAlive, "the first wrapper was not collected");
        using var second = new Socket(new SafeSocketHandle(pair.Sender.Handle, ownsHandle: false));
        var expected = new MemoryStream();
        for (int i = 0; i < 10; i++)
        {
            var message = new ZcopyMessage(allocator);
            for (int k = 0; k < 4; k++)
            {
                BioVec piece = allocator.Alloc(32 * 1024);
                piece.AsSpan().Fill((byte)(0x40 + i));
                expected.Write(piece.AsSpan());
                message.Add(piece);
            }

            await second.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);
        }

        // With half the bytes read and the completions of what went read too, new pieces are cut and written:
        // none may land in bytes still to be sent.
        byte[] head = await pair.ReadExactlyAsync(5 * 128 * 1024);
        await Task.Delay(100);
        var others = new List<BioVec>();
        for (int i = 0; i < 64; i++)
        {
            BioVec other = allocator.Alloc(32 * 1024);
            other.AsSpan().Fill(0xEE);
            others.Add(other);
        }

        byte[] tail = await pair.ReadExactlyAsync(5 * 128 * 1024);
        byte[] all = [.. head, .. tail];
        Assert.Equal(expected.ToArray(), all);
        await second.WaitForZcopyCompletionsAsync().WaitAsync(s_completionTimeout);
        ZcopySocketStatistics statistics = second.GetZcopyStatistics();
        Assert.Equal(0, statistics.ZeroCopySendCalls);
        Assert.Equal(10, statistics.CopyingFallbackSends);
        NativePages.PutBatch(others.ToArray());
        AssertNoLiveFolios(allocator);
    }

    /// <summary>
    /// An application that turned SO_ZEROCOPY on itself may have made zero-copy calls NativeZcopy never counted:
    /// its ZeroCopy sends copy, and say so.
    /// </summary>
    [Fact]
    public async Task A_socket_the_application_already_turned_SO_ZEROCOPY_on_for_copies_its_ZeroCopy_sends()
    {
        var allocator = new ZcopyAllocator();
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        pair.Sender.SetRawSocketOption(1 /* SOL_SOCKET */, 60 /* SO_ZEROCOPY */, BitConverter.GetBytes(1));
        var message = new ZcopyMessage(allocator);
        message.AddSpliced("zero-copy was on already"u8);
        Task<byte[]> received = pair.ReadExactlyAsync(24);

        await pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);

        Assert.Equal("zero-copy was on already"u8.ToArray(), await received);
        ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
        Assert.Equal(0, statistics.ZeroCopySendCalls);
        Assert.Equal(1, statistics.CopyingFallbackSends);
        AssertNoLiveFolios(allocator);
    }

    /// <summary>
    /// Sends <paramref name="messages"/> ZeroCopy messages through a second <see cref="Socket"/> over the pair's
    /// sender, waits for their completions, and drops the wrapper without disposing it (it does not own the
    /// descriptor, which stays open); returns a weak reference to it. Out of line, so no local keeps it alive.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> SendThroughAWrapperAndDropItAsync(SocketPair pair, ZcopyAllocator allocator, int messages)
    {
        var wrapper = new Socket(new SafeSocketHandle(pair.Sender.Handle, ownsHandle: false));
        Task<byte[]> received = pair.ReadExactlyAsync(messages * 1000);
        for (int i = 0; i < messages; i++)
        {
            var message = new ZcopyMessage(allocator);
            BioVec piece = allocator.Alloc(1000);
            piece.AsSpan().Fill((byte)i);
            message.Add(piece);
            await wrapper.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);
        }

        await received;
        await wrapper.WaitForZcopyCompletionsAsync().WaitAsync(s_completionTimeout);
        Assert.Equal(messages, wrapper.GetZcopyStatistics().ZeroCopySendCalls);
        return new WeakReference(wrapper);
    }

    /// <summary>Connects a pair, sends one small ZeroCopy message, and checks it went zero-copy and was released.</summary>
    private static async Task SendOneZeroCopyMessageAsync(ZcopyAllocator allocator, int index)
    {
        using SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp);
        var message = new ZcopyMessage(allocator);
        BioVec piece = allocator.Alloc(100);
        piece.AsSpan().Fill((byte)index);
        byte[] expected = piece.AsSpan().ToArray();
        message.Add(piece);
        Task<byte[]> received = pair.ReadExactlyAsync(expected.Length);
        await pair.Sender.SendZcopyAsync(message, ZcopySendFlags.ZeroCopy);
        Assert.Equal(expected, await received);
        await pair.Sender.WaitForZcopyCompletionsAsync().WaitAsync(s_completionTimeout);
        ZcopySocketStatistics statistics = pair.Sender.GetZcopyStatistics();
        Assert.Equal(1, statistics.ZeroCopySendCalls);
        Assert.Equal(0, statistics.CopyingFallbackSends);
    }

    /// <summary>Starts sending 16 MiB to a peer that does not read, and checks the send had to wait.</summary>
    private static async Task<(SocketPair Pair, List<BioVec> Runs, ValueTask<long> Sending)> StartStalledSendAsync(
        ZcopyAllocator allocator, ZcopySendFlags flags, CancellationToken cancellationToken)
    {
        SocketPair pair = await SocketPair.ConnectAsync(StreamKind.Tcp, sendBuffer: 64 * 1024, receiveBuffer: 64 * 1024);
        var (message, _, runs) = BuildLargeMessage(allocator, runCount: 16, runSize: 1 << 20, seed: 3);
        ValueTask<long> sending = pair.Sender.SendZcopyAsync(message, flags, cancellationToken);
        Assert.False(sending.IsCompleted, "16 MiB cannot fit in 128 KiB of socket buffers: the send must be waiting.");
        return (pair, runs, sending);
    }

    /// <summary>The closing checks of every send test: no message pending, runs back to the test's ref, no folio left.</summary>
    private static async Task AssertEverythingReleasedAsync(Socket sender, List<BioVec> runs, ZcopyAllocator allocator)
    {
        await AssertNothingPendingAsync(sender);
        AssertReleasedOnce(runs);
        AssertNoLiveFolios(allocator);
    }

    /// <summary>A header fragment, <paramref name="runCount"/> page runs the test keeps a ref on, and a trailer.</summary>
    private static (ZcopyMessage Message, byte[] Expected, List<BioVec> Runs) BuildLargeMessage(ZcopyAllocator allocator, int runCount, int runSize, int seed)
    {
        var random = new Random(seed);
        var message = new ZcopyMessage(allocator);
        var expected = new MemoryStream();
        var runs = new List<BioVec>();
        byte[] header = new byte[64];
        random.NextBytes(header);
        message.AddSpliced(header);
        expected.Write(header);
        for (int i = 0; i < runCount; i++)
        {
            BioVec run = NativePages.Alloc(runSize);
            random.NextBytes(run.AsSpan());
            message.AddRef(run);
            expected.Write(run.AsSpan());
            runs.Add(run);
        }

        byte[] trailer = new byte[16];
        random.NextBytes(trailer);
        message.AddSpliced(trailer);
        expected.Write(trailer);
        return (message, expected.ToArray(), runs);
    }

    /// <summary>A small message sharing a fresh run the test keeps a ref on.</summary>
    private static ZcopyMessage MessageSharing(ZcopyAllocator allocator, List<BioVec> runs)
    {
        BioVec run = NativePages.Alloc(300);
        runs.Add(run);
        var message = new ZcopyMessage(allocator);
        message.AddSpliced(new byte[20]);
        message.AddRef(run);
        return message;
    }

    /// <summary>Waits (bounded) for the kernel to report every zero-copy send on the socket finished.</summary>
    private static async Task AssertNothingPendingAsync(Socket socket)
    {
        DateTime deadline = DateTime.UtcNow + s_completionTimeout;
        while (socket.GetZcopyStatistics().PendingMessages > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }

        ZcopySocketStatistics statistics = socket.GetZcopyStatistics();
        Assert.True(statistics.PendingMessages == 0, $"messages still pending after {s_completionTimeout}: {statistics}");
    }

    /// <summary>
    /// Every run the test kept a ref on is back to exactly that ref: the sends dropped theirs once, no more
    /// (one more drop would have unmapped it) and no less. Then the test's own ref is the last.
    /// </summary>
    private static void AssertReleasedOnce(List<BioVec> runs)
    {
        foreach (BioVec run in runs)
        {
            Assert.Equal(1, NativePages.RefCount(run.Page));
            NativePages.Put(run);
            Assert.Throws<InvalidOperationException>(() => NativePages.Put(run));
        }
    }

    /// <summary>Every fragment the messages cut came back: once the arenas let go, no folio is left.</summary>
    private static void AssertNoLiveFolios(ZcopyAllocator allocator)
    {
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }
}
