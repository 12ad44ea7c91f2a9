namespace NativeZcopy.Native;

/// <summary>The outcome of reading one entry of a socket's error queue (<see cref="LinuxSocketCalls.ReadErrorQueue"/>).</summary>
internal enum ErrorQueueRead
{
    /// <summary>The queue is empty.</summary>
    Empty,

    /// <summary>A zero-copy completion was read.</summary>
    Completion,

    /// <summary>Something else was read (an ICMP error, say) and skipped.</summary>
    Other,

    /// <summary>
    /// An entry whose control data the kernel cut short (MSG_CTRUNC) with no completion left in what
    /// fitted: if it was a completion, it is lost.
    /// </summary>
    Truncated,

    /// <summary>recvmsg failed with another error.</summary>
    Failed,
}
