using System.Runtime.CompilerServices;
using NativeZcopy.Bench.Systems;
using NativeZcopy.Bench.Threads;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>The workloads every system runs, written once; see <see cref="IPieceSystem{THandle}"/> for why generic.</summary>
internal static class Workloads
{
    /// <summary>Scenario 1: <paramref name="count"/> Alloc + release pairs, one piece at a time.</summary>
    public static void Pairs<TSystem, THandle>(TSystem system, int size, int count)
        where TSystem : struct, IPieceSystem<THandle>
    {
        for (int i = 0; i < count; i++)
        {
            system.Release(system.Alloc(size));
        }
    }

    /// <summary>
    /// Scenario 1 with every pair a call of its own the JIT may not inline, as a request handler takes a header
    /// and lets it go: what a system finds once and the JIT keeps in a register across a loop (the thread's
    /// statics address, the pool's per-core slot) is found again for each pair.
    /// </summary>
    public static void PairsOnePerCall<TSystem, THandle>(TSystem system, int size, int count)
        where TSystem : struct, IPieceSystem<THandle>
    {
        for (int i = 0; i < count; i++)
        {
            OnePair<TSystem, THandle>(system, size);
        }
    }

    /// <summary>One Alloc + release, never inlined into a caller's loop.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void OnePair<TSystem, THandle>(TSystem system, int size)
        where TSystem : struct, IPieceSystem<THandle> => system.Release(system.Alloc(size));

    /// <summary>Scenario 2: fill <paramref name="slots"/> with pieces, then release them all.</summary>
    public static void Batch<TSystem, THandle>(TSystem system, THandle[] slots, int size)
        where TSystem : struct, IPieceSystem<THandle>
    {
        for (int i = 0; i < slots.Length; i++)
        {
            slots[i] = system.Alloc(size);
        }

        for (int i = 0; i < slots.Length; i++)
        {
            system.Release(slots[i]);
        }
    }

    /// <summary>
    /// Scenario 3's ring-only baselines: <paramref name="count"/> times <paramref name="item"/>, put into <paramref name="ring"/>
    /// and taken out again by this same thread, so every cursor and slot stays in this core's cache. Each item
    /// is published at once (<see cref="SpscRing{T}.Flush"/>), since this thread is its only reader.
    /// </summary>
    public static void RingRoundTrips<T>(SpscRing<T> ring, T item, int count)
    {
        for (int i = 0; i < count; i++)
        {
            ring.Enqueue(item);
            ring.Flush();
            ring.Dequeue();
        }
    }
}
