namespace NativeZcopy.Net;

/// <summary>Where one send stands in its message: a cursor over the entries, plus its ZeroCopy state.</summary>
internal struct SendProgress
{
    /// <summary>The message's entries, owned by the send; null once handed on.</summary>
    public BioVec[] Entries;

    /// <summary>Entries in use.</summary>
    public readonly int Count;

    /// <summary>Total bytes of the message.</summary>
    public readonly long Length;

    /// <summary>The entry the next byte comes from; <see cref="Count"/> when all are sent.</summary>
    public int Index;

    /// <summary>Bytes of entry <see cref="Index"/> already sent.</summary>
    public int Offset;

    /// <summary>Bytes sent so far.</summary>
    public long Sent;

    /// <summary>The socket's ZeroCopy state while this send is open on it; null for a copying send.</summary>
    public ZeroCopySocketState? ZeroCopy;

    public SendProgress(BioVec[] entries, int count)
    {
        Entries = entries;
        Count = count;
        long length = 0;
        for (int i = 0; i < count; i++)
        {
            length += entries[i].Length;
        }

        Length = length;
        SkipEmpty();
    }

    /// <summary>Moves the cursor past <paramref name="bytes"/> sent bytes.</summary>
    public void Advance(nint bytes)
    {
        Sent += bytes;
        while (bytes > 0)
        {
            int left = Entries[Index].Length - Offset;
            if (bytes < left)
            {
                Offset += (int)bytes;
                return;
            }

            bytes -= left;
            Index++;
            Offset = 0;
        }

        SkipEmpty();
    }

    /// <summary>Steps over empty entries, so the cursor always names a byte still to send.</summary>
    private void SkipEmpty()
    {
        while (Index < Count && Entries[Index].Length == Offset)
        {
            Index++;
            Offset = 0;
        }
    }
}
