using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// A bounded single-producer, single-consumer ring: the hand-off of a send completion to another thread.
/// Full and empty are waited out by spinning (yielding, never sleeping), as a completion port's poller does.
/// Each side publishes its cursor once per <see cref="Batch"/> items, as the kernel's <c>ptr_ring</c> frees
/// its slots and as MCRingBuffer moves both its cursors: the other side then sees the ring move in steps of
/// several cache lines of slots, and the two share a line only at a step's boundary (slots are not
/// line-aligned), not on every item.
/// </summary>
/// <remarks>
/// <para>
/// The producer owns <see cref="RingCursors.NextTail"/> and publishes it as <see cref="RingCursors.Tail"/>;
/// the consumer owns <see cref="RingCursors.NextHead"/> and publishes it as <see cref="RingCursors.Head"/>.
/// Each publishes with a volatile write after writing (or reading and clearing) the slots below the value,
/// and has read the other's published cursor with a volatile read before touching a slot, so a slot is never
/// written and read at once. A published cursor is never ahead of its private one, so a ring that is not full
/// (not empty) by the published values is not full (not empty) in truth.
/// </para>
/// <para>
/// No side waits on a value the other has not published: the producer publishes <c>Tail</c> before it waits
/// for space and at <see cref="Flush"/> (the end of a run of items), the consumer publishes <c>Head</c>
/// before it waits for an item. Each side reads the other's cursor only when its private copy
/// (<see cref="RingCursors.CachedHead"/>, <see cref="RingCursors.CachedTail"/>) says it must wait.
/// </para>
/// <para>
/// Why batches (docs/benchmarks.md, step 30): on these machines one cache-line transfer between the two
/// cores costs about 250 ns (a ping-pong round trip measured 400-600 ns), and with a cursor published per
/// item a consumer that keeps up reads each slot and <c>Tail</c> just after the producer wrote them, so the
/// lines move once per item or two and the producer's stores queue behind them. Scenario 3 then fell, for
/// seconds at a time, into a mode of 33-46 ns a piece instead of 6-9 (a standalone copy of the rig). Cursors
/// published every 16 items measured 21-25 ns in that mode, and every 64 items 7.3-7.7 ns in the fast one
/// (8.6-9.3 per item), but batches do not remove the slow mode: it comes and goes with where the host runs
/// the two virtual processors, and every variant of the ring entered and left it in the same periods.
/// </para>
/// <para>
/// Waiting is <see cref="SpinWait"/>'s: its first ten rounds only spin (about 3 µs on the 2-core VM) before
/// it yields.
/// </para>
/// </remarks>
/// <typeparam name="T">What travels through the ring.</typeparam>
internal sealed class SpscRing<T>
{
    /// <summary>
    /// Items per published cursor step: 32 slots are 4 cache lines of 8-byte items and 12 of the 24-byte
    /// NativeZcopy.BioVec, and 256 slots (scenario 3's ring) hold 8 such steps, so the producer still finds
    /// room long before the ring is full. Between the 16 and 64 measured in step 30.
    /// </summary>
    private const int Batch = 32;

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

    /// <summary>Creates a ring of <paramref name="capacityPow2"/> slots (a power of two, at least 2 x <see cref="Batch"/>).</summary>
    public SpscRing(int capacityPow2)
    {
        // Below two batches one thread putting and taking in turn would wait for a Head it never publishes.
        if (capacityPow2 < 2 * Batch || (capacityPow2 & (capacityPow2 - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityPow2), capacityPow2, $"A ring needs a power of two of at least {2 * Batch} slots.");
        }

        _first = (128 + Unsafe.SizeOf<T>() - 1) / Unsafe.SizeOf<T>();
        _slots = new T[_first + capacityPow2 + _first];
        _capacity = capacityPow2;
        _mask = capacityPow2 - 1;
    }

    /// <summary>Producer only: waits for a free slot and fills it; the item is published with its batch or at <see cref="Flush"/>.</summary>
    public void Enqueue(T item)
    {
        long tail = _cursors.NextTail;
        if (tail - _cursors.CachedHead == _capacity)
        {
            // Full by the copy: refresh it here, inline, and leave for the waiting loop only if the ring
            // really is full, after publishing what is filled (the consumer may be waiting for it).
            _cursors.CachedHead = Volatile.Read(ref _cursors.Head);
            if (tail - _cursors.CachedHead == _capacity)
            {
                Volatile.Write(ref _cursors.Tail, tail);
                WaitForSpace(tail);
            }
        }

        // Slot tail is free: CachedHead, a past value of Head read with a volatile read, is above
        // tail - capacity, so the consumer has taken the slot's last item and will not read the slot again
        // until a volatile write of Tail publishes it.
        _slots[_first + (int)(tail & _mask)] = item;
        _cursors.NextTail = ++tail;
        if ((tail & (Batch - 1)) == 0)
        {
            Volatile.Write(ref _cursors.Tail, tail);
        }
    }

    /// <summary>Producer only: publishes every item filled so far (the end of a run of items).</summary>
    public void Flush() => Volatile.Write(ref _cursors.Tail, _cursors.NextTail);

    /// <summary>Consumer only: waits for a published item and takes it.</summary>
    public T Dequeue()
    {
        long head = _cursors.NextHead;
        if (_cursors.CachedTail == head)
        {
            // Empty by the copy: refresh it here, inline, and leave for the waiting loop only if the ring
            // really is empty, after publishing what is freed (the producer may be waiting for it).
            _cursors.CachedTail = Volatile.Read(ref _cursors.Tail);
            if (_cursors.CachedTail == head)
            {
                Volatile.Write(ref _cursors.Head, head);
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

        // After Head passes it the producer may overwrite the slot: the item was read above.
        _cursors.NextHead = ++head;
        if ((head & (Batch - 1)) == 0)
        {
            Volatile.Write(ref _cursors.Head, head);
        }

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
