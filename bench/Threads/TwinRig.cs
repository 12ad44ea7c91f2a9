using System;
using NativeZcopy.Bench.Scenarios;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Threads;

/// <summary>Scenario 4's rig: the benchmark thread and a second thread run Alloc + release pairs at once.</summary>
internal sealed class TwinRig<TSystem, THandle> : IDisposable
    where TSystem : struct, IPieceSystem<THandle>
{
    private readonly TSystem _system;
    private readonly int _size;
    private readonly int _count;
    private readonly SpinningWorker _twin;

    /// <summary>Starts the second thread; each <see cref="Run"/> has both threads do <paramref name="count"/> pairs.</summary>
    public TwinRig(TSystem system, int size, int count)
    {
        _system = system;
        _size = size;
        _count = count;
        _twin = new SpinningWorker(RunPairs, "bench twin");
    }

    /// <summary>Both threads do <c>count</c> pairs; returns when both are done.</summary>
    public void Run()
    {
        _twin.Start();
        RunPairs();
        _twin.Wait();
    }

    public void Dispose() => _twin.Dispose();

    private void RunPairs() => Workloads.Pairs<TSystem, THandle>(_system, _size, _count);
}
