using System;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// Scenario 3's rig: the benchmark thread allocates and pushes each piece through a bounded ring; a second
/// thread pops and releases it, as when a send completion lands on another thread.
/// </summary>
internal sealed class CrossThreadRig<TSystem, THandle> : IDisposable
    where TSystem : struct, IPieceSystem<THandle>
{
    private readonly TSystem _system;
    private readonly int _size;
    private readonly int _count;
    private readonly SpscRing<THandle> _ring;
    private readonly SpinningWorker _releaser;

    /// <summary>Starts the releasing thread; each <see cref="Run"/> moves <paramref name="count"/> pieces.</summary>
    public CrossThreadRig(TSystem system, int size, int count, int ringCapacity)
    {
        _system = system;
        _size = size;
        _count = count;
        _ring = new SpscRing<THandle>(ringCapacity);
        _releaser = new SpinningWorker(ReleaseAll, "bench releaser");
    }

    /// <summary>Allocates <c>count</c> pieces here and has them all released on the other thread.</summary>
    public void Run()
    {
        _releaser.Start();
        for (int i = 0; i < _count; i++)
        {
            _ring.Enqueue(_system.Alloc(_size));
        }

        _ring.Flush();
        _releaser.Wait();
    }

    public void Dispose() => _releaser.Dispose();

    private void ReleaseAll()
    {
        for (int i = 0; i < _count; i++)
        {
            _system.Release(_ring.Dequeue());
        }
    }
}
