using System;
using System.Numerics;
using System.Threading;

namespace NativeZcopy.Arenas;

/// <summary>
/// A statistics counter that threads on different processors add to without sharing a cache line: one cell
/// per processor (rounded up to a power of two), each on a line of its own, summed when read.
/// </summary>
/// <remarks>
/// Every thread adds when it changes slices. With one counter for the whole allocator, two threads
/// changing slices at once bounced its line between their processors each time, the only line they both
/// wrote there (docs/benchmarks.md, step 17). Adds are interlocked, since a thread can be preempted and
/// moved between reading its processor id and adding; reads are racy but each cell's read is atomic.
/// </remarks>
internal sealed class StripedCounter
{
    /// <summary>Longs per cell: 64 bytes, one cache line, so neighbouring cells never share one.</summary>
    private const int Stride = 8;

    /// <summary>The cells, <see cref="Stride"/> longs apart; only the first long of each is used.</summary>
    private readonly long[] _cells;

    /// <summary>Cell count minus one (a power of two minus one).</summary>
    private readonly int _mask;

    /// <summary>Creates a counter with a cell per processor.</summary>
    public StripedCounter()
    {
        int cells = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount));
        _mask = cells - 1;

        // One more cell's worth at the front keeps the first cell off the array header's line.
        _cells = new long[(cells + 1) * Stride];
    }

    /// <summary>The sum of every cell: what was added, give or take adds racing with the read.</summary>
    public long Sum
    {
        get
        {
            long sum = 0;
            for (int cell = 0; cell <= _mask; cell++)
            {
                sum += Volatile.Read(ref _cells[(cell + 1) * Stride]);
            }

            return sum;
        }
    }

    /// <summary>Adds <paramref name="value"/> in the calling processor's cell.</summary>
    public void Add(long value) =>
        Interlocked.Add(ref _cells[((Thread.GetCurrentProcessorId() & _mask) + 1) * Stride], value);
}
