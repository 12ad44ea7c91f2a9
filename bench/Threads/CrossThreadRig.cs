using System;
using System.Runtime.CompilerServices;
using NativeZcopy.Bench.Scenarios;
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
    private readonly SpscRing<THandle> _ring;
    private readonly SpinningWorker _releaser;

    /// <summary>Starts the releasing thread; each <see cref="Run"/> moves <see cref="TwoThreadScenario.Pieces"/> pieces.</summary>
    public CrossThreadRig(TSystem system, int size, int ringCapacity)
    {
        _system = system;
        _size = size;
        _ring = new SpscRing<THandle>(ringCapacity);
        _releaser = new SpinningWorker(ReleaseAll, "bench releaser");
    }

    /// <summary>Allocates <see cref="TwoThreadScenario.Pieces"/> pieces here and has them all released on the other thread.</summary>
    /// <remarks>
    /// Both loops count to a constant, and the releasing one is out of line, for the reason
    /// <see cref="TwinRig{TSystem, THandle}.RunPairs"/> gives: so the JIT compiles them as it compiles the
    /// single-thread baseline's loop, not into the worker's spin loop and not short of a register.
    /// </remarks>
    public void Run()
    {
        _releaser.Start();
        for (int i = 0; i < TwoThreadScenario.Pieces; i++)
        {
            _ring.Enqueue(_system.Alloc(_size));
        }

        _ring.Flush();
        _releaser.Wait();
    }

    public void Dispose() => _releaser.Dispose();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReleaseAll()
    {
        for (int i = 0; i < TwoThreadScenario.Pieces; i++)
        {
            _system.Release(_ring.Dequeue());
        }
    }
}
