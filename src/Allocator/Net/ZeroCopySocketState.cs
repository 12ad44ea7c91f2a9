using System;
using System.Buffers;
using System.Collections.Generic;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Native;

namespace NativeZcopy.Net;

/// <summary>
/// One socket's MSG_ZEROCOPY bookkeeping: whether SO_ZEROCOPY took, the kernel's send numbering, the
/// messages whose pages the kernel still holds, and the draining of completions from the error queue.
/// </summary>
/// <remarks>
/// <para>
/// Numbering: the kernel gives every sendmsg call that carries MSG_ZEROCOPY and takes at least one byte
/// the next number of a per-socket 32-bit counter starting at 0 (a call that fails takes none), and later
/// queues a notification whose <c>[ee_info, ee_data]</c> range covers the numbers it completes. Sends on
/// one socket are serialized (<see cref="BeginSend"/> refuses a second one), so each message owns a
/// contiguous run of numbers, and <see cref="_nextId"/> mirrors the kernel's counter.
/// </para>
/// <para>
/// Draining, without a thread parked or a busy poll: completions are read (non-blocking recvmsg with
/// MSG_ERRQUEUE) at the start of a ZeroCopy send once eight or more messages wait, when a send hits
/// ENOBUFS, and, while any message is pending and no send is running, by a timer with back-off: 1 ms after the last
/// send, doubling up to 64 ms while a tick finds nothing new, back to 1 ms when it finds something. On
/// loopback the kernel reports completion as the peer's ACK arrives, so a message is usually released
/// within a tick or two. The timer is the only cost while idle and stops when nothing is pending.
/// (.NET's epoll engine does see the EPOLLERR a queued notification raises, but offers no hook for it.)
/// </para>
/// <para>
/// Concurrency: every field below is owned by <see cref="_lock"/>. Drains run only under it, and never on
/// the timer while a send is open: only the sending thread knows how many numbers its open message has
/// taken, so only it may credit completions to that message. Pages are released outside the lock.
/// </para>
/// <para>
/// A socket closed while messages are pending can no longer be asked about them; their refs are dropped
/// at the next drain, quarantined: the kernel took its own references on the pages at send time and may
/// go on sending the queued bytes after the close, so the folios and page runs those messages held are
/// unmapped at their final release and never reissued or kept, and no new piece can rewrite the bytes
/// (<see cref="ZcopySocketStatistics.AbandonedMessages"/> counts them). Memory the caller holds a reference
/// on itself stays mapped: await <see cref="ZcopySocketExtensions.WaitForZcopyCompletionsAsync"/> (which
/// completes when <see cref="ZcopySocketStatistics.PendingMessages"/> reaches 0) before closing the socket if
/// the caller means to rewrite it. Waiting also keeps the close graceful: a tick reads
/// the error queue through the socket's SafeHandle, and a Dispose that finds the handle in use makes .NET
/// disconnect the socket and close it abortively. Reading through a raw or duplicated descriptor instead was
/// rejected: a raw one may name another socket once this one is closed, and a duplicate keeps the connection
/// open (no FIN) after the caller's Dispose until the duplicate is closed.
/// </para>
/// </remarks>
internal sealed class ZeroCopySocketState
{
    /// <summary>
    /// First back-off step of the completion timer, in milliseconds: short, since a completion usually comes
    /// within a tick or two (on loopback, with the peer's ACK), and a message's pages stay held until it is read.
    /// </summary>
    private const int FirstPollDelay = 1;

    /// <summary>
    /// Longest back-off step of the completion timer, in milliseconds: a message waits at most about this long
    /// past its completion to be released, and a socket whose completions stall wakes about 16 times a second.
    /// </summary>
    private const int MaxPollDelay = 64;

    /// <summary>Messages waiting before a new send reads the error queue itself.</summary>
    private const int DrainThreshold = 8;

    /// <summary>Each socket's state, living exactly as long as its socket.</summary>
    private static readonly ConditionalWeakTable<Socket, ZeroCopySocketState> s_states = new();

    /// <summary>
    /// Serializes the creation of states, and with it each one's check-and-set of SO_ZEROCOPY, so that of two
    /// <see cref="Socket"/> objects over one kernel socket only one can find the option off (see
    /// <see cref="NumbersKernelSocket"/>).
    /// </summary>
    private static readonly Lock s_creationLock = new();

    /// <summary>The timer's callback, one delegate for every socket.</summary>
    private static readonly TimerCallback s_onTimer = static state => ((ZeroCopySocketState)state!).OnTimer();

    /// <summary>The socket whose error queue this drains.</summary>
    private readonly Socket _socket;

    /// <summary>Owns every mutable field below.</summary>
    private readonly Lock _lock = new();

    /// <summary>Messages waiting for completions, oldest first; the open send's message is last.</summary>
    private readonly List<PendingZeroCopySend> _pending = [];

    /// <summary>
    /// Messages taken off <see cref="_pending"/> whose refs are being dropped outside the lock: counted as
    /// pending until they are, so a caller that waits for no pending message also waits for the drops.
    /// Incremented under the lock, decremented with Interlocked after the drop.
    /// </summary>
    private int _releasing;

    /// <summary>What the socket answered to SO_ZEROCOPY; Success when it took it.</summary>
    private readonly SocketError _unavailable;

    /// <summary>Drains completions while messages are pending and no send runs; created on first need.</summary>
    private Timer? _timer;

    /// <summary>The timer's next delay in milliseconds.</summary>
    private int _pollDelay = FirstPollDelay;

    /// <summary>True while the timer is due to fire.</summary>
    private bool _timerArmed;

    /// <summary>True while a send is open (between <see cref="BeginSend"/> and <see cref="EndSend"/>).</summary>
    private bool _sending;

    /// <summary>The kernel's number for this socket's next MSG_ZEROCOPY call.</summary>
    private uint _nextId;

    /// <summary>
    /// What <see cref="WhenIdle"/> callers wait on, while any of them does: completed, and cleared, by the first
    /// <see cref="SignalIfIdle"/> that finds the state idle (see <see cref="IsIdleLocked"/>).
    /// </summary>
    private TaskCompletionSource? _idle;

    private long _zeroCopyCalls;
    private long _completedCalls;
    private long _copiedCalls;
    private long _notifications;
    private long _fallbackSends;
    private long _abandonedMessages;
    private long _truncatedEntries;

    /// <summary>SendAsync calls that copied part of a zero-copy message on a full buffer; under <see cref="_lock"/>.</summary>
    private long _fullBufferCopies;

    private ZeroCopySocketState(Socket socket)
    {
        _socket = socket;
        if (!OperatingSystem.IsLinux())
        {
            _unavailable = SocketError.OperationNotSupported;
            return;
        }

        _unavailable = LinuxSocketCalls.TryEnableZeroCopy(socket.SafeHandle, out bool wasOn, out int errno)
            ? SocketError.Success
            : LinuxSocketCalls.ToSocketError(errno);
        NumbersKernelSocket = Enabled && !wasOn;
    }

    /// <summary>True when the socket took SO_ZEROCOPY.</summary>
    public bool Enabled => _unavailable == SocketError.Success;

    /// <summary>The socket's state, created (and SO_ZEROCOPY asked for, once) on first use.</summary>
    /// <exception cref="ObjectDisposedException">The socket was closed before its first ZeroCopy send.</exception>
    public static ZeroCopySocketState For(Socket socket)
    {
        if (s_states.TryGetValue(socket, out ZeroCopySocketState? state))
        {
            return state;
        }

        // Created under one process-wide lock, not by the table's GetValue, which may run its factory twice for
        // one socket and keep either result: the instance that lost would have turned SO_ZEROCOPY on, and the
        // one kept would find it on and copy for good.
        lock (s_creationLock)
        {
            if (!s_states.TryGetValue(socket, out state))
            {
                state = new ZeroCopySocketState(socket);
                s_states.Add(socket, state);
            }

            return state;
        }
    }

    /// <summary>The socket's state if a ZeroCopy send ever ran on it.</summary>
    public static ZeroCopySocketState? Find(Socket socket) => s_states.TryGetValue(socket, out ZeroCopySocketState? state) ? state : null;

    /// <summary>
    /// True when this state may send with MSG_ZEROCOPY: it turned SO_ZEROCOPY on for its kernel socket, so the
    /// kernel's numbering of zero-copy calls on that socket starts with this state's first and no other counts
    /// them. The kernel numbers zero-copy calls, and queues their completions, per socket, not per descriptor
    /// or per <see cref="Socket"/> object, and its counter runs for the socket's whole life. A state that finds
    /// the option already on (a second <see cref="Socket"/> over the same socket, a handle wrapped again, a
    /// duplicated descriptor, whether the first object is alive or long collected, another process that passed
    /// the socket on, or an application that turned it on itself) cannot know which numbers are taken: counting
    /// from 0 it would credit another's completions to its messages and release pages the kernel may still
    /// read. So it copies (<see cref="ZcopySocketStatistics.CopyingFallbackSends"/>). The kernel's own flag is
    /// the record: it outlives every object in this process, needs no table and cannot be pruned too early.
    /// What it cannot tell: a socket whose option someone turned on, used and turned off again (the counter
    /// keeps running; numbers would be mis-credited as before); two processes making a socket's first ZeroCopy
    /// send at the same moment (the lock orders this process only); and a socket accepted from a listener with
    /// the option on, which inherits it with its counter at 0 and copies needlessly. The README tells
    /// applications to leave SO_ZEROCOPY to NativeZcopy.
    /// </summary>
    public bool NumbersKernelSocket { get; }

    /// <summary>Counts a Socket.SendAsync call that copied part of a zero-copy message while the buffer was full.</summary>
    public void CountFullBufferCopy()
    {
        lock (_lock)
        {
            _fullBufferCopies++;
        }
    }

    /// <summary>Counts a ZeroCopy message that was sent copying instead.</summary>
    public void CountFallback()
    {
        lock (_lock)
        {
            _fallbackSends++;
        }
    }

    /// <summary>
    /// Opens a send of <paramref name="entries"/>: drains what completed so far and records the message
    /// as pending from the kernel's next number on. The caller must call <see cref="EndSend"/> on every path.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another ZeroCopy send is running on the socket.</exception>
    public void BeginSend(BioVec[] entries, int count)
    {
        PendingZeroCopySend[]? released = null;
        int releasedCount = 0;
        lock (_lock)
        {
            if (_sending)
            {
                throw new InvalidOperationException(
                    "Another ZeroCopy SendZcopyAsync is still running on this socket; sends on one stream socket must not overlap. " + ZcopySocketExtensions.MessageReleased);
            }

            // A send reads the error queue itself only once a few messages wait: each read costs a
            // system call (plus one that finds the queue empty), and the kernel merges completions, so
            // reading every eighth send releases as much for a fraction of the calls. The timer covers
            // a socket that goes quiet with fewer waiting.
            if (_pending.Count >= DrainThreshold)
            {
                DrainLocked(readQueue: true, ref released, ref releasedCount);
            }

            // Open only once recorded: if the drain or the list threw (out of memory), the caller releases the
            // message itself and calls no EndSend, so an open send left behind would refuse every later one.
            _pending.Add(new PendingZeroCopySend { Entries = entries, Count = count, FirstId = _nextId, FirstCall = _zeroCopyCalls });
            _sending = true;
        }

        Release(released, releasedCount);
    }

    /// <summary>Notes that the open send's last call took the kernel's next number.</summary>
    public void CountCall()
    {
        lock (_lock)
        {
            CollectionsMarshal.AsSpan(_pending)[^1].Ids++;
            _nextId++;
            _zeroCopyCalls++;
        }
    }

    /// <summary>Drains completions in the middle of a send (the kernel refused one with ENOBUFS).</summary>
    public void DrainDuringSend()
    {
        PendingZeroCopySend[]? released = null;
        int releasedCount = 0;
        lock (_lock)
        {
            DrainLocked(readQueue: true, ref released, ref releasedCount);
        }

        Release(released, releasedCount);
    }

    /// <summary>
    /// Closes the open send: its message is released now if none of its calls took a number or all are
    /// complete, and otherwise when the last completion comes in. Arms the timer while anything waits.
    /// </summary>
    public void EndSend()
    {
        PendingZeroCopySend[]? released = null;
        int releasedCount = 0;
        lock (_lock)
        {
            ref PendingZeroCopySend open = ref CollectionsMarshal.AsSpan(_pending)[^1];
            open.Closed = true;
            _sending = false;

            // No read here: a send that just ended rarely finds its own completion queued already. Only this
            // message can have become releasable (see DrainLocked): one none of whose calls took a number (it
            // copied, or failed first), or, rarely, one a drain during the send completed.
            if (open.Completed >= open.Ids)
            {
                DrainLocked(readQueue: false, ref released, ref releasedCount);
            }

            ArmLocked(FirstPollDelay);
        }

        Release(released, releasedCount);
    }

    /// <summary>
    /// A task that completes once nothing is pending: no send open, no message waiting for completions, none
    /// whose references are still being dropped. Completed already when that holds now. The drain timer runs
    /// while messages wait, so the task completes within a tick of the kernel's last completion (or of the
    /// drain that finds the socket closed and abandons what is left).
    /// </summary>
    public Task WhenIdle()
    {
        lock (_lock)
        {
            if (IsIdleLocked())
            {
                return Task.CompletedTask;
            }

            // Continuations run on the pool: completing it under a drain must not run a caller's code there.
            _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _idle.Task;
        }
    }

    /// <summary>
    /// True when nothing is pending. Reads <see cref="_releasing"/>, which <see cref="Release"/> lowers outside
    /// the lock before it calls <see cref="SignalIfIdle"/>: a waiter whose check ran before that decrement has
    /// set <see cref="_idle"/> by the time the signal takes the lock, and one whose check ran after sees 0.
    /// </summary>
    private bool IsIdleLocked() => _pending.Count == 0 && !_sending && Volatile.Read(ref _releasing) == 0;

    /// <summary>
    /// Completes the waiters' task when nothing is pending any more: decided under the lock (see
    /// <see cref="IsIdleLocked"/>), completed outside it.
    /// </summary>
    private void SignalIfIdle()
    {
        TaskCompletionSource? idle;
        lock (_lock)
        {
            idle = _idle;
            if (idle is null || !IsIdleLocked())
            {
                return;
            }

            _idle = null;
        }

        idle.TrySetResult();
    }

    /// <summary>A snapshot of the counters.</summary>
    public ZcopySocketStatistics GetStatistics()
    {
        lock (_lock)
        {
            return new ZcopySocketStatistics(
                _unavailable, _zeroCopyCalls, _completedCalls, _copiedCalls, _notifications, _fallbackSends,
                _pending.Count + Volatile.Read(ref _releasing), _abandonedMessages, _truncatedEntries, _fullBufferCopies);
        }
    }

    /// <summary>
    /// Reads every queued completion (when <paramref name="readQueue"/>), credits it to its messages, and
    /// moves closed, fully completed messages to <paramref name="released"/>. If the socket is closed,
    /// every closed message goes: the kernel will not report on them any more. True when anything was
    /// credited or released.
    /// </summary>
    private bool DrainLocked(bool readQueue, ref PendingZeroCopySend[]? released, ref int releasedCount)
    {
        bool progress = false;
        bool closed = false;

        // Whether the release pass below can find anything. Between drains no pending message is both closed and
        // complete: the pass takes every such message, and a message becomes one only when a completion is
        // credited to it after it closed (counted by Credit), when it closes complete (EndSend calls in with
        // readQueue false only then), or when the socket closes. So a drain that credits no closed message to
        // its end skips the pass, which walks every pending message.
        bool releasable = !readQueue;
        if (!readQueue)
        {
            // Only the release scan below.
        }
        else if (OperatingSystem.IsLinux())
        {
            while (true)
            {
                ErrorQueueRead read;
                uint first, last;
                bool copied;
                try
                {
                    read = LinuxSocketCalls.ReadErrorQueue(_socket.SafeHandle, out first, out last, out copied, out _);
                }
                catch (ObjectDisposedException)
                {
                    closed = true;
                    break;
                }

                if (read == ErrorQueueRead.Other)
                {
                    continue;
                }

                if (read == ErrorQueueRead.Truncated)
                {
                    _truncatedEntries++; // said in the statistics: nothing else can tell why messages stay pending
                    continue;
                }

                if (read != ErrorQueueRead.Completion)
                {
                    closed = read == ErrorQueueRead.Failed && IsSocketClosed();
                    break;
                }

                long numbers = (long)(last - first) + 1;
                _notifications++;
                _completedCalls += numbers;
                _copiedCalls += copied ? numbers : 0;
                progress = true;
                releasable |= Credit(CollectionsMarshal.AsSpan(_pending), first, last);
            }
        }
        else
        {
            closed = IsSocketClosed();
        }

        if (!releasable && !closed)
        {
            return progress;
        }

        // Compacted in one pass, in order: completions come mostly oldest first, so removing each released
        // send where it stood would shift the rest every time, quadratic in the messages pending.
        int kept = 0;
        for (int i = 0; i < _pending.Count; i++)
        {
            PendingZeroCopySend send = _pending[i];
            if (!send.Closed || (!closed && send.Completed < send.Ids))
            {
                _pending[kept++] = send; // still sending, or the kernel has yet to report some of its calls
                continue;
            }

            // Closed before the kernel reported every call: it may still be sending these bytes, and
            // can no longer say when it is done. Released quarantined: never reused, only unmapped.
            send.Abandoned = send.Completed < send.Ids;
            _abandonedMessages += send.Abandoned ? 1 : 0;
            released ??= ArrayPool<PendingZeroCopySend>.Shared.Rent(_pending.Count);
            released[releasedCount++] = send;
            Interlocked.Increment(ref _releasing);
            progress = true;
        }

        _pending.RemoveRange(kept, _pending.Count - kept);
        return progress;
    }

    /// <summary>
    /// Credits the completed numbers <paramref name="first"/>..<paramref name="last"/> (inclusive, mod 2^32)
    /// to the messages of <paramref name="pending"/> that own them, visiting only those messages. True when a
    /// closed message got its last number: the drain then has a message to release.
    /// </summary>
    /// <remarks>
    /// Why a search is safe: the messages' number runs are disjoint and in increasing order from the oldest
    /// message's first number. Each message starts at the kernel's next number when it opens, only the open
    /// (last) message takes numbers, and a drain removes messages without reordering the rest; so, as offsets
    /// from <c>pending[0].FirstId</c>, every run ends (exclusive) at or before the next one starts. Fewer than
    /// 2^32 numbers are ever outstanding, so those offsets do not wrap, unless a message whose completion was
    /// lost is still pending (checked first). A completion range, also taken as
    /// offsets, is one interval, or two when it wraps past the oldest first number; the messages an interval
    /// meets are consecutive, the first found by a binary search on the runs' ends, so a notification costs
    /// O(log pending) plus the messages it credits, where walking every message cost O(pending) each.
    /// </remarks>
    internal static bool Credit(Span<PendingZeroCopySend> pending, uint first, uint last)
    {
        if (pending.IsEmpty)
        {
            return false;
        }

        // The search needs the pending numbers to span at most 2^32. A message whose completion was lost (a
        // truncated error-queue entry) stays pending while the counter runs on; once the counter has come round
        // past it, the newer messages' offsets wrap and the runs are out of order, and the search would miss
        // them. Then every message is walked, as before the search: each is credited the numbers it matches.
        bool finished = false;
        ref PendingZeroCopySend newest = ref pending[^1];
        if (newest.FirstCall + newest.Ids - pending[0].FirstCall > 1L << 32)
        {
            CreditFrom(pending, 0, uint.MaxValue, first, last, ref finished); // every offset is <= uint.MaxValue
            return finished;
        }

        uint origin = pending[0].FirstId;
        uint low = first - origin;
        uint high = last - origin;
        if (low <= high)
        {
            CreditFrom(pending, FirstEndingAfter(pending, low), high, first, last, ref finished);
            return finished;
        }

        // The range wraps past the oldest message's first number: offsets [0, high] and [low, 2^32). The
        // messages the two meet are a prefix and a suffix of the list; each is credited once, with its whole share.
        int next = CreditFrom(pending, 0, high, first, last, ref finished);
        CreditFrom(pending, Math.Max(next, FirstEndingAfter(pending, low)), uint.MaxValue, first, last, ref finished);
        return finished;
    }

    /// <summary>The index of the first message whose run ends past the offset <paramref name="low"/>.</summary>
    private static int FirstEndingAfter(ReadOnlySpan<PendingZeroCopySend> pending, uint low)
    {
        // Runs' ends increase with the index (see Credit).
        uint origin = pending[0].FirstId;
        int lo = 0;
        int hi = pending.Length;
        while (lo < hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            ulong end = (ulong)(pending[mid].FirstId - origin) + pending[mid].Ids;
            if (end > low)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    /// <summary>
    /// Credits the messages from <paramref name="index"/> on whose runs start at or before the offset
    /// <paramref name="high"/> with their share of <paramref name="first"/>..<paramref name="last"/>; returns
    /// the index after the last one. Sets <paramref name="finished"/> when a closed message got its last one.
    /// </summary>
    private static int CreditFrom(Span<PendingZeroCopySend> pending, int index, uint high, uint first, uint last, ref bool finished)
    {
        uint origin = pending[0].FirstId;
        for (; index < pending.Length && pending[index].FirstId - origin <= high; index++)
        {
            ref PendingZeroCopySend send = ref pending[index];
            uint share = send.Overlap(first, last);
            send.Completed += share;
            finished |= share != 0 && send.Closed && send.Completed >= send.Ids;
        }

        return index;
    }

    /// <summary>True once the socket's handle is closed; never throws, since it runs on the timer too.</summary>
    private bool IsSocketClosed()
    {
        try
        {
            return _socket.SafeHandle.IsClosed;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    /// <summary>Arms the timer if messages wait, no send is open and it is not armed already.</summary>
    private void ArmLocked(int delay)
    {
        if (_pending.Count == 0 || _sending || _timerArmed)
        {
            return;
        }

        _pollDelay = delay;
        _timerArmed = true;
        _timer ??= CreateTimer();
        _timer.Change(delay, Timeout.Infinite);
    }

    /// <summary>
    /// The drain timer, created with the execution context's flow suppressed: a timer captures the context
    /// of the thread that creates it and runs every callback in it, so the first sender's AsyncLocal values
    /// (a request's scope, a tenant, an activity) would be kept alive, and seen by every drain, for as long as
    /// the socket lives.
    /// </summary>
    private Timer CreateTimer()
    {
        bool suppressed = ExecutionContext.IsFlowSuppressed();
        if (!suppressed)
        {
            ExecutionContext.SuppressFlow();
        }

        try
        {
            return new Timer(s_onTimer, this, Timeout.Infinite, Timeout.Infinite);
        }
        finally
        {
            if (!suppressed)
            {
                ExecutionContext.RestoreFlow();
            }
        }
    }

    private void OnTimer()
    {
        PendingZeroCopySend[]? released = null;
        int releasedCount = 0;
        lock (_lock)
        {
            _timerArmed = false;
            if (_sending || _pending.Count == 0)
            {
                // The open send drains and re-arms when it ends. With nothing pending (a send drained the last
                // message after this tick was armed) the tick must not touch the handle: a caller that saw
                // PendingMessages reach 0 may be closing the socket now (see the remarks).
                return;
            }

            bool progress = DrainLocked(readQueue: true, ref released, ref releasedCount);
            ArmLocked(progress ? FirstPollDelay : Math.Min(_pollDelay * 2, MaxPollDelay));
        }

        Release(released, releasedCount);
    }

    /// <summary>
    /// Drops the refs of completed messages; outside the lock, since a last Put unmaps. Never throws: this
    /// runs on the timer too, where an exception would end the process. A release NativePages refuses is
    /// misuse behind the message's back (an entry released by its holder, or added twice on one reference):
    /// every reference the page still held was dropped all the same (<see cref="NativePages.PutBatch"/>),
    /// and nobody is left to tell at this point, so it is skipped.
    /// </summary>
    private void Release(PendingZeroCopySend[]? released, int count)
    {
        if (released is null)
        {
            return;
        }

        try
        {
            for (int i = 0; i < count; i++)
            {
                try
                {
                    ZcopyMessage.ReleaseEntries(released[i].Entries, released[i].Count, quarantine: released[i].Abandoned);
                }
                catch (InvalidOperationException)
                {
                    // See the summary: misuse, reported to nobody; what the pages held was dropped.
                }
                finally
                {
                    // Whatever ReleaseEntries threw, the message is no longer pending: a waiter must not hang on it.
                    Interlocked.Decrement(ref _releasing);
                }
            }

            ArrayPool<PendingZeroCopySend>.Shared.Return(released, clearArray: true);
        }
        finally
        {
            SignalIfIdle();
        }
    }
}
