using System.Threading;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// A bounded single-producer, single-consumer ring: the hand-off of a send completion to another thread.
/// Full and empty are waited out by spinning (yielding, never sleeping), as a completion port's poller does.
/// </summary>
/// <remarks>
/// The producer owns <see cref="RingCursors.Tail"/> and the slots between head and tail it has not published;
/// the consumer owns <see cref="RingCursors.Head"/>. Each publishes with a volatile write after writing (or
/// clearing) the slot, and reads the other's cursor with a volatile read before touching a slot, so a slot
/// is never written and read at once.
/// </remarks>
/// <typeparam name="T">What travels through the ring.</typeparam>
internal sealed class SpscRing<T>
{
    private readonly T[] _slots;
    private readonly int _mask;
    private RingCursors _cursors;

    /// <summary>Creates a ring of <paramref name="capacityPow2"/> slots (a power of two).</summary>
    public SpscRing(int capacityPow2)
    {
        _slots = new T[capacityPow2];
        _mask = capacityPow2 - 1;
    }

    /// <summary>Producer only: waits for a free slot and publishes <paramref name="item"/>.</summary>
    public void Enqueue(T item)
    {
        long tail = _cursors.Tail;
        SpinWait spinner = default;
        while (tail - Volatile.Read(ref _cursors.Head) == _slots.Length)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }

        _slots[tail & _mask] = item;
        Volatile.Write(ref _cursors.Tail, tail + 1);
    }

    /// <summary>Consumer only: waits for an item and takes it.</summary>
    public T Dequeue()
    {
        long head = _cursors.Head;
        SpinWait spinner = default;
        while (Volatile.Read(ref _cursors.Tail) == head)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }

        T item = _slots[head & _mask];
        _slots[head & _mask] = default!;
        Volatile.Write(ref _cursors.Head, head + 1);
        return item;
    }
}
