using System.Net.Sockets;

namespace NativeZcopy.Net;

/// <summary>
/// What <see cref="ZcopySendFlags.ZeroCopy"/> sends on one socket have done so far (see
/// <see cref="ZcopySocketExtensions.GetZcopyStatistics"/>). A snapshot taken under the socket's lock.
/// </summary>
/// <param name="ZeroCopyUnavailable">
/// <see cref="SocketError.Success"/> when the socket took SO_ZEROCOPY (or was never asked); otherwise what
/// it answered, said once per socket: every ZeroCopy send on it copies instead.
/// </param>
/// <param name="ZeroCopySendCalls">sendmsg calls made with MSG_ZEROCOPY; the kernel numbers each one.</param>
/// <param name="CompletedSendCalls">Of those, how many the kernel has reported finished.</param>
/// <param name="CopiedSendCalls">Of the finished ones, how many the kernel reported it copied after all
/// (SO_EE_CODE_ZEROCOPY_COPIED): always, on loopback; on a real NIC, when the device cannot gather. A hint,
/// as the kernel's flag is: a notification it merged from several completions carries one flag for the
/// whole range (the first completion's), so the count is right for a socket that always or never copies,
/// and approximate for one that does both.</param>
/// <param name="CompletionNotifications">Error-queue notifications read; the kernel merges consecutive
/// completions into one range, so this is usually far below <paramref name="CompletedSendCalls"/>.</param>
/// <param name="CopyingFallbackSends">ZeroCopy requests served by copying: every message sent on a socket
/// that refused SO_ZEROCOPY, or that already had SO_ZEROCOPY on when this <see cref="Socket"/> object first sent
/// ZeroCopy (another object over the same kernel socket, alive or collected, another process, or the
/// application turned it on: the kernel numbers zero-copy calls per socket for its whole life, and only the
/// object that turned it on knows which numbers are its own), plus every sendmsg call the kernel refused
/// with ENOBUFS (the socket's option memory or the user's locked pages were short) that then sent bytes
/// without MSG_ZEROCOPY.</param>
/// <param name="PendingMessages">Messages whose pages the kernel still holds: their refs are not yet dropped.</param>
/// <param name="AbandonedMessages">Messages still waiting for the kernel when the socket was closed. Nobody can
/// report on them after the close, so their refs were dropped without the kernel's word, and the folios and
/// page runs they held were quarantined: unmapped at their final release, never reissued or kept, so no new
/// piece can rewrite bytes the kernel may still be sending. Memory the caller still holds a reference on
/// stays mapped and must not be rewritten. Await <see cref="ZcopySocketExtensions.WaitForZcopyCompletionsAsync"/>
/// (<paramref name="PendingMessages"/> at 0) before closing a socket to keep this at 0.</param>
/// <param name="TruncatedErrorQueueEntries">Error-queue entries whose control data the kernel cut short
/// (MSG_CTRUNC) with no zero-copy completion in what fitted. If one was a completion, its messages stay
/// pending until the socket closes and are then abandoned. Should stay 0: the reader's buffer holds 256
/// bytes, room for a completion behind both timestamp control messages; a socket with more ancillary options
/// turned on could need more.</param>
/// <param name="FullBufferCopies">.NET's own <c>Socket.SendAsync</c> calls that carried part of a message sent
/// zero-copy because the send buffer was full: the wait for room goes through that send, which copies, up to
/// one OS page's worth of bytes (<see cref="NativePages.OsPageSize"/>) a call, before the message goes on
/// zero-copy. A peer that reads slowly raises it. With <paramref name="ZeroCopySendCalls"/> and the ENOBUFS
/// part of <paramref name="CopyingFallbackSends"/>, it counts every call that carried bytes of a message while
/// zero-copy was in use; a message copied whole counts once in <paramref name="CopyingFallbackSends"/>.</param>
public readonly record struct ZcopySocketStatistics(
    SocketError ZeroCopyUnavailable,
    long ZeroCopySendCalls,
    long CompletedSendCalls,
    long CopiedSendCalls,
    long CompletionNotifications,
    long CopyingFallbackSends,
    int PendingMessages,
    long AbandonedMessages,
    long TruncatedErrorQueueEntries,
    long FullBufferCopies);
