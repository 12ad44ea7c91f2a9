using System;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Native;

namespace NativeZcopy.Net;

/// <summary>
/// Gathering sends of <see cref="ZcopyMessage"/> lists of native pages on a connected stream
/// <see cref="Socket"/>, one system call per up to 1024 pieces, with optional Linux MSG_ZEROCOPY.
/// </summary>
/// <remarks>
/// <para>
/// .NET's own multi-buffer send takes only managed arrays (dotnet/runtime#49941), so this calls the OS on
/// the socket's own handle: <c>sendmsg</c> on Linux, <c>WSASend</c> on Windows. On Linux every call
/// carries MSG_DONTWAIT, so it never blocks whatever mode .NET left the descriptor in.
/// </para>
/// <para>
/// Waiting for room without parking a thread or polling: when the kernel's send buffer is full (a short
/// send, or EAGAIN), the next bytes of the current piece go through .NET's own
/// <see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/> over the native
/// memory. That call waits for writability on .NET's epoll (or IOCP) engine exactly as any .NET send does,
/// sends those bytes, and honours cancellation; the gathering sends resume behind them. Bytes cannot
/// reorder: this send is the only writer while it runs. Alternatives were worse: <c>Socket.Poll</c>
/// parks a thread, a zero-byte SendAsync completes at once without waiting, and a private epoll would
/// duplicate the runtime's engine. For a copying send the rest of the current piece goes that way; for a
/// ZeroCopy send at most one OS page does (copied, like any .NET send), so the bulk stays zero-copy.
/// </para>
/// <para>
/// Elsewhere (macOS, BSD), where no native path is declared, every piece goes through that same
/// SendAsync: correct, not gathered.
/// </para>
/// <para>
/// Ownership: the send takes the message's refs on every path, success or failure. A copying send drops
/// them before it completes; a ZeroCopy send hands them to the socket's pending list
/// (see <see cref="ZeroCopySocketState"/>), which drops them as the kernel reports each call done.
/// </para>
/// </remarks>
public static class ZcopySocketExtensions
{
    /// <summary>
    /// One memory manager per thread for the next waiting send: a completed SendAsync holds no reference
    /// to it, and the wait that takes it clears this slot, so no two sends ever share one.
    /// </summary>
    [ThreadStatic]
    private static NativeMemoryManager? t_spareMemory;

    /// <summary>
    /// Sends every byte of <paramref name="message"/>, in order, and completes with the byte count. Takes
    /// ownership of the message: afterwards it is disposed, and its refs are dropped when the kernel is done
    /// with the pages (at once for a copying send; on the kernel's completion for
    /// <see cref="ZcopySendFlags.ZeroCopy"/>). Sends on one socket must not overlap.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="socket"/> or <paramref name="message"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="flags"/> has a bit other than
    /// <see cref="ZcopySendFlags.ZeroCopy"/>. The message is left as it was, still the caller's.</exception>
    /// <exception cref="ObjectDisposedException">The message was disposed or already sent (there was nothing to
    /// take), or the socket was closed (the message was taken and its entries released; the message says so).</exception>
    /// <exception cref="InvalidOperationException">The socket is not a connected stream socket, or another
    /// ZeroCopy send is running on it, or an entry was released after it was added to the message. Nothing is
    /// sent, and the message was taken: its entries are released (the message says so).</exception>
    /// <exception cref="SocketException">Through the returned task: the OS refused the send (e.g.
    /// ConnectionReset); some bytes may have gone.</exception>
    /// <exception cref="OperationCanceledException">Through the returned task: <paramref name="cancellationToken"/>
    /// was cancelled before the send (nothing went) or fired while it waited (some bytes may have gone).</exception>
    /// <remarks>
    /// After a send that failed or was cancelled while it waited, the stream may end partway through the
    /// message, and how far is not reported: the peer cannot find the next message's start, so close the
    /// connection rather than send on it, as after a cancelled <see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/>.
    /// </remarks>
    public static ValueTask<long> SendZcopyAsync(
        this Socket socket,
        ZcopyMessage message,
        ZcopySendFlags flags = ZcopySendFlags.None,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(message);
        if ((flags & ~ZcopySendFlags.ZeroCopy) != 0)
        {
            // Refused before the message is taken: a flag this version does not know may be one a caller
            // relies on (a later version's), and sending as if it were absent would not do what was asked.
            throw new ArgumentOutOfRangeException(nameof(flags), flags, $"Unknown send flags 0x{(int)flags:X}: the only flag is ZeroCopy (0x{(int)ZcopySendFlags.ZeroCopy:X}). The message was not taken.");
        }

        if (!message.TryTakeEntries(out BioVec[] entries, out int count))
        {
            throw new ObjectDisposedException(typeof(ZcopyMessage).FullName, "The message was already disposed or sent: a message is sent at most once.");
        }

        // Before anything can go out: an entry released since it was added may name another user's bytes now.
        ZcopyMessage.ThrowIfAnyReleased(entries, count);

        var progress = new SendProgress(entries, count);
        bool cancelled;
        try
        {
            CheckSocket(socket);
            cancelled = cancellationToken.IsCancellationRequested;
            if (!cancelled && (flags & ZcopySendFlags.ZeroCopy) != 0)
            {
                ZeroCopySocketState state = ZeroCopySocketState.For(socket);
                if (state.NumbersKernelSocket)
                {
                    state.BeginSend(entries, count);
                    progress.ZeroCopy = state;
                }
                else
                {
                    state.CountFallback();
                }
            }
        }
        catch
        {
            ReleaseTaken(entries, count);
            throw;
        }

        if (cancelled)
        {
            ReleaseTaken(entries, count);
            return ValueTask.FromCanceled<long>(cancellationToken);
        }

        try
        {
            if (Pump(socket, ref progress))
            {
                Finish(ref progress);
                return new ValueTask<long>(progress.Sent);
            }
        }
        catch (SocketException error)
        {
            // The OS's refusal travels in the task, as Socket.SendAsync reports it; usage errors (a closed
            // socket, a bad message) throw at once, as .NET's own sends do.
            Finish(ref progress);
            return ValueTask.FromException<long>(error);
        }
        catch
        {
            Finish(ref progress);
            throw;
        }

        return SendWaitingAsync(socket, progress, cancellationToken);
    }

    /// <summary>
    /// The socket's ZeroCopy counters: what SO_ZEROCOPY answered, calls made, completions and copies the
    /// kernel reported, messages still pending. All zero when no ZeroCopy send ever ran on the socket.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="socket"/> is null.</exception>
    public static ZcopySocketStatistics GetZcopyStatistics(this Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return ZeroCopySocketState.Find(socket)?.GetStatistics() ?? default;
    }

    /// <summary>
    /// Completes once no ZeroCopy message on the socket is pending: every send has ended, the kernel has
    /// reported it is done with every page those sends gave it, and their references were dropped (or, for a
    /// socket closed meanwhile, dropped quarantined; see <see cref="ZcopySocketStatistics.AbandonedMessages"/>).
    /// At once when nothing is pending or no ZeroCopy send ever ran on the socket. Await it before closing a
    /// socket whose zero-copy sends should finish gracefully, or before rewriting memory sent with ZeroCopy
    /// that you hold a reference on yourself. The kernel reports completion when the peer acknowledges the
    /// bytes, so a peer that stops reading keeps it waiting, and a completion the kernel's error queue lost
    /// (<see cref="ZcopySocketStatistics.TruncatedErrorQueueEntries"/>) keeps its messages pending until the
    /// socket is closed: pass a token to bound the wait, and close the socket when it fires.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="socket"/> is null.</exception>
    /// <exception cref="OperationCanceledException">Through the returned task: <paramref name="cancellationToken"/>
    /// was cancelled while something was pending (with nothing pending the task completes, cancelled token or
    /// not). Nothing is released early; the messages stay pending.</exception>
    public static Task WaitForZcopyCompletionsAsync(this Socket socket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Task idle = ZeroCopySocketState.Find(socket)?.WhenIdle() ?? Task.CompletedTask;
        return idle.IsCompleted || !cancellationToken.CanBeCanceled ? idle : idle.WaitAsync(cancellationToken);
    }

    /// <summary>The slow path: the kernel's buffer filled up, so wait through .NET's SendAsync.</summary>
    /// <remarks>
    /// A server whose peers read slowly takes this path on most sends, so it allocates nothing in steady
    /// state: the state machine's box comes from <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/>
    /// (the returned ValueTask is awaited once, as any ValueTask must be), and the memory manager from
    /// <see cref="t_spareMemory"/>.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<long> SendWaitingAsync(Socket socket, SendProgress progress, CancellationToken cancellationToken)
    {
        NativeMemoryManager memory = t_spareMemory ?? new NativeMemoryManager();
        t_spareMemory = null;
        try
        {
            do
            {
                BioVec piece = progress.Entries[progress.Index];
                int length = piece.Length - progress.Offset;
                if (progress.ZeroCopy is not null)
                {
                    length = Math.Min(length, NativePages.OsPageSize);
                }
                else if (OperatingSystem.IsWindows())
                {
                    length = Math.Min(length, WindowsSocketCalls.MaxBytesPerCall);
                }

                int sent = await socket.SendAsync(memory.Reset(piece.Address + progress.Offset, length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                progress.ZeroCopy?.CountFullBufferCopy();
                progress.Advance(sent);
            }
            while (!Pump(socket, ref progress));
        }
        catch
        {
            // Not kept for reuse: after a cancelled or failed SendAsync nothing promises the runtime is
            // done with the memory it was given, and one allocation on a failure costs nothing.
            Finish(ref progress);
            throw;
        }

        Finish(ref progress);
        memory.Reset(0, 0);
        t_spareMemory = memory;
        return progress.Sent;
    }

    /// <summary>
    /// Gathering sends until the message is out (true) or the kernel's buffer is full (false).
    /// </summary>
    /// <remarks>
    /// A short send (fewer bytes taken than offered) already says the buffer filled up during the call, so
    /// it returns false at once instead of asking again: the next call would almost always fail with EAGAIN,
    /// and the waiting SendAsync tries a send of its own before it waits anyway. Skipping that call saves
    /// one system call per wait, and correctness does not depend on it: should room have appeared in
    /// between, SendAsync sends at once and the gathering sends resume behind it.
    /// </remarks>
    /// <exception cref="SocketException">The OS refused the send.</exception>
    private static bool Pump(Socket socket, ref SendProgress progress)
    {
        bool zeroCopy = progress.ZeroCopy is not null;
        while (progress.Index < progress.Count)
        {
            ReadOnlySpan<BioVec> rest = progress.Entries.AsSpan(progress.Index, progress.Count - progress.Index);
            nint sent;
            nint requested;
            int error;
            SocketError kind;
            if (OperatingSystem.IsLinux())
            {
                sent = LinuxSocketCalls.SendMessage(socket.SafeHandle, rest, progress.Offset, zeroCopy, out error, out requested);
                kind = sent < 0 ? LinuxSocketCalls.ToSocketError(error) : SocketError.Success;
                if (kind == SocketError.NoBufferSpaceAvailable && zeroCopy)
                {
                    // MSG_ZEROCOPY's ENOBUFS: too many completions outstanding for the socket's option
                    // memory. Read them, then let this call copy rather than fail the message.
                    progress.ZeroCopy!.DrainDuringSend();
                    sent = LinuxSocketCalls.SendMessage(socket.SafeHandle, rest, progress.Offset, zeroCopy: false, out error, out requested);
                    kind = sent < 0 ? LinuxSocketCalls.ToSocketError(error) : SocketError.Success;
                    if (sent > 0)
                    {
                        // Counted once it carried bytes: a retry that finds the buffer full sends nothing,
                        // and the wait's copying send that follows counts itself.
                        progress.ZeroCopy.CountFallback();
                    }
                }
                else if (sent > 0 && zeroCopy)
                {
                    progress.ZeroCopy!.CountCall();
                }
            }
            else if (OperatingSystem.IsWindows() && WindowsSocketCalls.CanGather(socket))
            {
                sent = WindowsSocketCalls.SendMessage(socket.SafeHandle, rest, progress.Offset, out error, out requested);
                kind = sent < 0 ? WindowsSocketCalls.ToSocketError(error) : SocketError.Success;
            }
            else
            {
                return false;
            }

            if (sent > 0)
            {
                progress.Advance(sent);
                if (sent < requested)
                {
                    // Short: the buffer is full now; wait rather than spend a call on EAGAIN.
                    return false;
                }

                continue;
            }

            if (sent == 0 || kind == SocketError.WouldBlock)
            {
                // A zero-byte result on a non-empty stream send is not an answer; let SendAsync find out.
                return false;
            }

            string context = $"after {progress.Sent} of {progress.Length} bytes of a {progress.Count}-piece message";
            throw Failure(error, context);
        }

        return true;
    }

    /// <summary>Hands the message's refs on: to the ZeroCopy pending list, or straight back.</summary>
    private static void Finish(ref SendProgress progress)
    {
        if (progress.ZeroCopy is { } state)
        {
            progress.ZeroCopy = null;
            state.EndSend();
        }
        else if (progress.Entries is { } entries)
        {
            progress.Entries = null!;
            ReleaseTaken(entries, progress.Count);
        }
    }

    /// <summary>
    /// Drops the references of a message the send took, on every path but the ZeroCopy hand-off, without
    /// throwing for the release: the caller hears what became of the send, and only that.
    /// </summary>
    /// <remarks>
    /// The entries were checked live when the send took them, so what a release can still refuse is misuse
    /// during or behind the send: a piece added twice on one reference, or released by its holder while the
    /// message owned it. Every reference the pages held is dropped all the same (<see cref="NativePages.PutBatch"/>),
    /// so nothing stays mapped, and the refusal would otherwise tell a caller whose bytes went out that the send
    /// failed (it would send them again), replace a failed or cancelled send's own outcome, or throw from a
    /// cancelled send instead of completing its task as cancelled. A ZeroCopy message's completion drops its
    /// references the same way (<see cref="ZeroCopySocketState"/>). The misuse goes unreported here; fragment
    /// tracking's <see cref="NativePages.Put(in BioVec)"/> refusal and <see cref="NativePages.IsLive(in BioVec)"/>
    /// before adding are where to look for it.
    /// </remarks>
    private static void ReleaseTaken(BioVec[] entries, int count)
    {
        try
        {
            ZcopyMessage.ReleaseEntries(entries, count);
        }
        catch (InvalidOperationException)
        {
            // See the remarks: everything held was dropped; the send's own outcome is what the caller gets.
        }
    }

    /// <summary>The OS error of a failed gathering send as a <see cref="SocketException"/> that names it.</summary>
    private static SocketException Failure(int error, string context) =>
        OperatingSystem.IsLinux() ? LinuxSocketCalls.Failure("sendmsg", error, context)
        : OperatingSystem.IsWindows() ? WindowsSocketCalls.Failure(error, context)
        : new SocketException(error, $"The send failed with OS error {error} {context}.");

    /// <summary>
    /// The end of a refusal's message once the send took the message: a caller that reads only the exception
    /// must not think the message is still its own to retry (only a bad flags argument leaves it so).
    /// </summary>
    internal const string MessageReleased = "The send took the message and released its entries.";

    /// <summary>Refuses what cannot carry a gathering stream send.</summary>
    private static void CheckSocket(Socket socket)
    {
        SafeHandle handle = socket.SafeHandle;
        if (handle.IsClosed || handle.IsInvalid)
        {
            throw new ObjectDisposedException(socket.GetType().FullName, $"The socket is closed. {MessageReleased}");
        }

        if (socket.SocketType != SocketType.Stream)
        {
            throw new InvalidOperationException(
                $"SendZcopyAsync needs a connected stream socket; this socket is {socket.SocketType} ({socket.AddressFamily}, {socket.ProtocolType}). {MessageReleased}");
        }

        if (!socket.Connected)
        {
            throw new InvalidOperationException($"SendZcopyAsync needs a connected stream socket; this {socket.AddressFamily} socket is not connected. {MessageReleased}");
        }
    }
}
