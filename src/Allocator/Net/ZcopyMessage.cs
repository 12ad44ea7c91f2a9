using System;
using System.Buffers;
using System.Threading;
using NativeZcopy.SideTable;

namespace NativeZcopy.Net;

/// <summary>
/// An ordered gather list of pieces of native pages (protocol headers, data page runs, trailers), sent in
/// one gathering system call by <see cref="ZcopySocketExtensions.SendZcopyAsync"/>. It owns one page
/// reference per entry.
/// </summary>
/// <remarks>
/// <para>
/// Ownership: <see cref="Add"/> takes over the caller's reference, <see cref="AddRef"/> takes a new one,
/// and <see cref="AddSpliced"/> takes a reference on the native page the bytes already live in or, for any
/// other memory, copies them into fragments of the message's allocator. Sending hands every reference to
/// the send, which drops each exactly once when the kernel is done with the page (or at once, the live ones,
/// when it refuses a message holding an entry released behind its back); afterwards the message is disposed.
/// <see cref="Dispose"/> drops whatever the message still holds, once.
/// </para>
/// <para>
/// The entries live in an array rented from <see cref="ArrayPool{T}.Shared"/>, so building and sending a
/// message allocates only the message object once the pool is warm. A message is built by one thread;
/// <see cref="Dispose"/> may race with nothing but itself.
/// </para>
/// </remarks>
public sealed class ZcopyMessage : IDisposable
{
    /// <summary>
    /// Entries in a fresh message's first array: a header, a few data page runs and a trailer fit without
    /// growing it.
    /// </summary>
    private const int InitialCapacity = 8;

    /// <summary>Where copied <see cref="AddSpliced"/> bytes are cut from.</summary>
    private readonly ZcopyAllocator _allocator;

    /// <summary>The entries, rented; empty until the first add. Owned by the building thread.</summary>
    private BioVec[] _entries = [];

    /// <summary>
    /// Entries in use. Owned by the building thread, like <see cref="_entries"/>: written by the adds, read
    /// by <see cref="Count"/>, zeroed by the one <see cref="TryTakeEntries"/> (a send or Dispose) that sets
    /// <see cref="_disposed"/>.
    /// </summary>
    private int _count;

    /// <summary>
    /// Sum of the entries' lengths. Owned by the building thread, like <see cref="_entries"/>: written by the
    /// adds, read by <see cref="Length"/>, zeroed by the one <see cref="TryTakeEntries"/> that sets
    /// <see cref="_disposed"/>.
    /// </summary>
    private long _length;

    /// <summary>1 once disposed or handed to a send; set once with Interlocked.</summary>
    private int _disposed;

    /// <summary>Creates an empty message.</summary>
    /// <param name="allocator">Allocator for bytes <see cref="AddSpliced"/> must copy; <see cref="ZcopyAllocator.Shared"/> when null.</param>
    public ZcopyMessage(ZcopyAllocator? allocator = null) => _allocator = allocator ?? ZcopyAllocator.Shared;

    /// <summary>Number of entries.</summary>
    public int Count => _count;

    /// <summary>Total bytes the message sends.</summary>
    public long Length => _length;

    /// <summary>Appends <paramref name="piece"/>, taking over the reference the caller holds on it.</summary>
    /// <remarks>
    /// A piece already released is refused here rather than sent: its page may since have been reissued to
    /// another user, whose bytes would go out on the wire (see <see cref="NativePages.IsLive(in BioVec)"/> for what the
    /// check can and cannot see).
    /// </remarks>
    /// <exception cref="ArgumentException">The piece is empty (<c>default(BioVec)</c>).</exception>
    /// <exception cref="InvalidOperationException">The piece was already released: its page life ended or
    /// (with fragment tracking) the piece itself was released, or it has no bytes and lies where two live
    /// tracked fragments meet. The message is unchanged.</exception>
    /// <exception cref="ObjectDisposedException">The message was disposed or sent.</exception>
    public void Add(in BioVec piece)
    {
        ThrowIfDisposed();
        if (piece.IsEmpty)
        {
            throw new ArgumentException("An empty BioVec names no memory and cannot be sent.", nameof(piece));
        }

        if (!NativePages.IsLive(piece))
        {
            throw new InvalidOperationException(
                $"{piece} was already released, so it holds no reference to hand to the message: its page may now hold another user's bytes.");
        }

        NativePages.ThrowIfNoSingleFragment(piece);
        Append(piece);
    }

    /// <summary>Appends <paramref name="piece"/> with a reference of its own; the caller keeps its reference.</summary>
    /// <exception cref="ArgumentException">The piece is empty (<c>default(BioVec)</c>).</exception>
    /// <exception cref="InvalidOperationException">The piece was already released: its page life ended or (with
    /// fragment tracking) the piece itself was released, or it has no bytes and lies where two live tracked
    /// fragments meet; or its page already holds the most references a page can count (see
    /// <see cref="NativePages.Get(in BioVec)"/>). The message is unchanged.</exception>
    /// <exception cref="ObjectDisposedException">The message was disposed or sent.</exception>
    public void AddRef(in BioVec piece)
    {
        ThrowIfDisposed();
        if (piece.IsEmpty)
        {
            throw new ArgumentException("An empty BioVec names no memory and cannot be sent.", nameof(piece));
        }

        EnsureRoom();
        NativePages.Get(piece);
        Append(piece);
    }

    /// <summary>
    /// Appends <paramref name="data"/>. When it lies entirely inside one live native page (a piece of a
    /// <see cref="ZcopyAllocator"/> folio or a <see cref="NativePages.Alloc(int)"/> run), the message takes a
    /// reference on that page and sends the bytes in place; anything else (a managed array, the stack,
    /// malloc'd memory) is copied now into fragments of the message's allocator.
    /// </summary>
    /// <remarks>
    /// A span carries no page life, so it is checked against the page that lives at its address now: a span
    /// kept over memory since released and reissued names its new owner's bytes, and those are what is sent.
    /// Keep spans only while holding a reference, as for any use of the memory.
    /// </remarks>
    /// <exception cref="OutOfMemoryException">The allocator could not map a folio for the copy. The message is
    /// unchanged: the chunks already copied were released.</exception>
    /// <exception cref="ObjectDisposedException">The message or its allocator was disposed.</exception>
    public unsafe void AddSpliced(ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        if (data.IsEmpty)
        {
            return;
        }

        EnsureRoom();
        fixed (byte* address = data)
        {
            if (NativePages.TryGetRange((nint)address, data.Length, out BioVec piece))
            {
                Append(piece);
                return;
            }
        }

        // Copied in chunks of the largest piece. All or nothing: a failure after some chunks (no folio for the
        // next) releases the chunks appended so far, so the message never sends part of the data, nor sends it
        // twice when the caller retries.
        int count = _count;
        long length = _length;
        int chunk = _allocator.MaxFragmentSize;
        try
        {
            for (int start = 0; start < data.Length; start += chunk)
            {
                EnsureRoom();
                Append(_allocator.MemDup(data.Slice(start, Math.Min(chunk, data.Length - start))));
            }
        }
        catch
        {
            Span<BioVec> appended = _entries.AsSpan(count, _count - count);
            try
            {
                NativePages.PutBatchToleratingRefusedUnmap(appended); // a refused unmap loses nothing; the failure is the copy's
            }
            finally
            {
                appended.Clear();
                _count = count;
                _length = length;
            }

            throw;
        }
    }

    /// <summary>
    /// Drops every reference the message still holds. Idempotent; does nothing after a send. A final release
    /// whose unmap the OS refuses does not throw: the page is kept and its unmap retried.
    /// </summary>
    /// <exception cref="InvalidOperationException">An entry's page had already been released behind the
    /// message's back (the others are still released).</exception>
    public void Dispose()
    {
        if (TryTakeEntries(out BioVec[] entries, out int count))
        {
            ReleaseEntries(entries, count);
        }
    }

    /// <summary>
    /// Drops one ref per entry (neighbouring pieces of one page with one atomic operation) and returns the
    /// array to the pool. Every entry is released even if one fails; the first failure is rethrown after.
    /// A refused unmap is not a failure here: the reference is dropped and the page kept and its unmap
    /// retried (see <see cref="PageRunOwner"/>), so nothing is lost, and a send whose bytes went out must not
    /// report an error (a caller would send them again), nor a failed send trade its own error for this one.
    /// With <paramref name="quarantine"/>, each entry's page life is first marked so that it is unmapped at its
    /// final release and never reused (a message the kernel may still be sending; see
    /// <see cref="ZcopySocketStatistics.AbandonedMessages"/>).
    /// </summary>
    internal static void ReleaseEntries(BioVec[] entries, int count, bool quarantine = false)
    {
        try
        {
            if (quarantine)
            {
                foreach (BioVec entry in entries.AsSpan(0, count))
                {
                    NativePages.Quarantine(entry);
                }
            }

            NativePages.PutBatchToleratingRefusedUnmap(entries.AsSpan(0, count));
        }
        finally
        {
            if (entries.Length > 0)
            {
                ArrayPool<BioVec>.Shared.Return(entries);
            }
        }
    }

    /// <summary>
    /// For a send about to start: when an entry was released after it was added (its page life ended, or with
    /// fragment tracking the piece itself was released), releases every other entry, returns the array and
    /// throws, before a byte goes out. Its page may have been reissued since, and sending it would put another
    /// user's bytes on the wire.
    /// </summary>
    /// <exception cref="InvalidOperationException">An entry was released behind the message's back; the message's
    /// other entries were released.</exception>
    internal static void ThrowIfAnyReleased(BioVec[] entries, int count)
    {
        int released = -1;
        bool tracked = false;
        for (int i = 0; i < count; i++)
        {
            // A run of neighbouring pieces of one untracked page life (a message's header and trailer, slices
            // of one run) has one answer: the life's. A tracked life answers per piece.
            if (i > 0 && !tracked && entries[i].SharesLifeWith(entries[i - 1]))
            {
                continue;
            }

            if (!NativePages.IsLive(entries[i], out tracked))
            {
                released = i;
                break;
            }
        }

        if (released < 0)
        {
            return;
        }

        BioVec first = entries[released];
        int live = 0;
        for (int i = 0; i < count; i++)
        {
            // Checked again, each one: an entry released behind the message's back holds no reference to drop.
            if (NativePages.IsLive(entries[i]))
            {
                entries[live++] = entries[i];
            }
        }

        var refused = new InvalidOperationException(
            $"Entry {released} of the message, {first}, was released after it was added: nothing was sent, since its page may now hold another user's bytes, and the message's {live} live entries were released.");
        try
        {
            ReleaseEntries(entries, live);
        }
        catch (InvalidOperationException error)
        {
            // A live-looking entry whose references were taken too (added twice, released once behind the
            // message's back): every other entry was still released; the refusal stays the report.
            throw new InvalidOperationException(
                $"Entry {released} of the message, {first}, was released after it was added: nothing was sent, since its page may now hold another user's bytes. Releasing the {live} entries that still looked live failed too (inner exception); those that could be released were.",
                error);
        }

        throw refused;
    }

    /// <summary>
    /// Hands the entries and their refs to the caller (a send) and marks the message disposed. False when
    /// it already was. The caller must give the array back through <see cref="ReleaseEntries"/>.
    /// </summary>
    internal bool TryTakeEntries(out BioVec[] entries, out int count)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            entries = [];
            count = 0;
            return false;
        }

        entries = _entries;
        count = _count;
        _entries = [];
        _count = 0;
        _length = 0;
        return true;
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> once the message was disposed or sent.</summary>
    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Grows the array before a ref is taken, so a failing rent never strands a ref.</summary>
    private void EnsureRoom()
    {
        if (_count < _entries.Length)
        {
            return;
        }

        BioVec[] grown = ArrayPool<BioVec>.Shared.Rent(Math.Max(InitialCapacity, _entries.Length * 2));
        _entries.AsSpan(0, _count).CopyTo(grown);
        if (_entries.Length > 0)
        {
            ArrayPool<BioVec>.Shared.Return(_entries);
        }

        _entries = grown;
    }

    private void Append(in BioVec piece)
    {
        EnsureRoom();
        _entries[_count++] = piece;
        _length += piece.Length;
    }
}
