using System.Runtime.CompilerServices;
using System.Threading;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// A bounded single-producer, single-consumer ring: the hand-off of a send completion to another thread.
/// Full and empty are waited out by spinning (yielding, never sleeping), as a completion port's poller does.
/// </summary>
/// <remarks>
/// <para>
/// The producer owns <see cref="RingCursors.Tail"/> and the slots between head and tail it has not published;
/// the consumer owns <see cref="RingCursors.Head"/>. Each publishes with a volatile write after writing (or
/// reading and clearing) the slot, and has read the other's cursor with a volatile read before touching a
/// slot, so a slot is never written and read at once.
/// </para>
/// <para>
/// Each side reads the other's cursor only when its private copy of it (<see cref="RingCursors.CachedHead"/>,
/// <see cref="RingCursors.CachedTail"/>) says it must wait. Cursors only grow, so a copy is never ahead of
/// the cursor it copies: a ring that is not full (not empty) by the copy is not full (not empty) in truth.
/// While the ring is neither, each item costs its slot's line and no cursor line moves between cores.
/// </para>
/// <para>
/// Waiting is <see cref="SpinWait"/>'s: its first ten rounds only spin (about 3 µs on the 2-core VM) before
/// it yields. A busy poll of the other cursor ahead of them was tried and made the ring-only floor slower:
/// the waiting side came back with fewer items per read of the other's cursor, so that line moved more.
/// </para>
/// </remarks>
/// <typeparam name="T">What travels through the ring.</typeparam>
internal sealed class SpscRing<T>
{
    /// <summary>
    /// The slots, with <see cref="_first"/> unused ones before the ring's first slot and as many after its last:
    /// the array's length word (read for every bounds check, on both sides) and whatever the heap puts after
    /// the array stay off the lines the two sides write.
    /// </summary>
    private readonly T[] _slots;

    /// <summary>Index in <see cref="_slots"/> of the ring's first slot: enough slots for 128 bytes.</summary>
    private readonly int _first;

    private readonly int _capacity;
    private readonly int _mask;
    private RingCursors _cursors;

    /// <summary>Creates a ring of <paramref name="capacityPow2"/> slots (a power of two).</summary>
    public SpscRing(int capacityPow2)
    {
        _first = (128 + Unsafe.SizeOf<T>() - 1) / Unsafe.SizeOf<T>();
        _slots = new T[_first + capacityPow2 + _first];
        _capacity = capacityPow2;
        _mask = capacityPow2 - 1;
    }

    /// <summary>Producer only: waits for a free slot and publishes <paramref name="item"/>.</summary>
    public void Enqueue(T item)
    {
        long tail = _cursors.Tail;
        if (tail - _cursors.CachedHead == _capacity)
        {
            // Full by the copy: refresh it here, inline, and leave for the waiting loop only if the ring
            // really is full (a consumer that keeps up has usually moved on).
            _cursors.CachedHead = Volatile.Read(ref _cursors.Head);
            if (tail - _cursors.CachedHead == _capacity)
            {
                WaitForSpace(tail);
            }
        }

        // Slot tail is free: CachedHead, a past value of Head read with a volatile read, is above
        // tail - capacity, so the consumer has taken the slot's last item and will not read the slot again
        // until the volatile write of Tail below publishes it.
        _slots[_first + (int)(tail & _mask)] = item;
        Volatile.Write(ref _cursors.Tail, tail + 1);
    }

    /// <summary>Consumer only: waits for an item and takes it.</summary>
    public T Dequeue()
    {
        long head = _cursors.Head;
        if (_cursors.CachedTail == head)
        {
            // Empty by the copy: refresh it here, inline, and leave for the waiting loop only if the ring
            // really is empty (one thread putting and taking in turn finds it so on every item).
            _cursors.CachedTail = Volatile.Read(ref _cursors.Tail);
            if (_cursors.CachedTail == head)
            {
                WaitForItem(head);
            }
        }

        // Slot head is published: CachedTail is above head, and the volatile read of Tail it came from
        // followed the producer's write of the slot.
        ref T slot = ref _slots[_first + (int)(head & _mask)];
        T item = slot;
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            // A slot left holding a reference would keep its object alive until the producer comes round
            // again; plain values need no clearing, and not writing the slot saves moving its line here.
            slot = default!;
        }

        // After this write the producer may overwrite the slot: the item was read above.
        Volatile.Write(ref _cursors.Head, head + 1);
        return item;
    }

    /// <summary>
    /// Producer only, on a ring just found full: waits until the consumer has freed a slot, and remembers how
    /// far it got.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WaitForSpace(long tail)
    {
        SpinWait spinner = default;
        long head;
        do
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        while (tail - (head = Volatile.Read(ref _cursors.Head)) == _capacity);

        _cursors.CachedHead = head;
    }

    /// <summary>
    /// Consumer only, on a ring just found empty: waits until the producer has published an item, and
    /// remembers how far it got.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WaitForItem(long head)
    {
        SpinWait spinner = default;
        long tail;
        do
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        while ((tail = Volatile.Read(ref _cursors.Tail)) == head);

        _cursors.CachedTail = tail;
    }
}
