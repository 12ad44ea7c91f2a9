namespace NativeZcopy.Net;

/// <summary>
/// One message sent with MSG_ZEROCOPY whose refs wait for the kernel: the kernel numbered its sendmsg
/// calls <see cref="FirstId"/> .. <see cref="FirstId"/> + <see cref="Ids"/> - 1 (mod 2^32), and each
/// number is reported completed exactly once.
/// </summary>
internal struct PendingZeroCopySend
{
    /// <summary>The message's entries; one ref each, released when every call completed.</summary>
    public BioVec[] Entries;

    /// <summary>Entries in use in <see cref="Entries"/>.</summary>
    public int Count;

    /// <summary>The kernel's number for the message's first MSG_ZEROCOPY call.</summary>
    public uint FirstId;

    /// <summary>
    /// The socket's MSG_ZEROCOPY calls before the message's first, not wrapped: <see cref="FirstId"/> without the
    /// mod 2^32, so a drain can tell when the counter has come round past a message still pending.
    /// </summary>
    public long FirstCall;

    /// <summary>MSG_ZEROCOPY calls the message has made so far.</summary>
    public uint Ids;

    /// <summary>Of those, how many the kernel reported completed.</summary>
    public uint Completed;

    /// <summary>True once the send finished issuing calls; only then can <see cref="Completed"/> reach the end.</summary>
    public bool Closed;

    /// <summary>True when the socket closed before every call completed: released quarantined (see <see cref="ZcopySocketStatistics.AbandonedMessages"/>).</summary>
    public bool Abandoned;

    /// <summary>How many of the numbers <paramref name="first"/>..<paramref name="last"/> (inclusive, mod 2^32) are this message's.</summary>
    public readonly uint Overlap(uint first, uint last)
    {
        // Work relative to FirstId so the message is [0, Ids) and wraparound disappears for it; the
        // completion range may then wrap past 2^32, in which case it is [start, 2^32) plus [0, end].
        uint start = first - FirstId;
        uint end = last - FirstId;
        if (Ids == 0)
        {
            return 0;
        }

        uint top = Ids - 1;
        if (start <= end)
        {
            return start > top ? 0 : System.Math.Min(end, top) - start + 1;
        }

        uint low = System.Math.Min(end, top) + 1;
        uint high = start > top ? 0 : top - start + 1;
        return low + high;
    }
}
