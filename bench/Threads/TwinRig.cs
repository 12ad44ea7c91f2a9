using System;
using System.Runtime.CompilerServices;
using NativeZcopy.Bench.Scenarios;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// Scenario 4's rig: the benchmark thread and a second thread run Alloc + release pairs at once, each through
/// <see cref="RunPairs"/>, the loop the single-thread baseline runs too.
/// </summary>
internal sealed class TwinRig<TSystem, THandle> : IDisposable
    where TSystem : struct, IPieceSystem<THandle>
{
    private readonly TSystem _system;
    private readonly int _size;
    private readonly SpinningWorker _twin;

    /// <summary>Starts the second thread; each <see cref="Run"/> has both threads do <see cref="TwoThreadScenario.Pieces"/> pairs.</summary>
    public TwinRig(TSystem system, int size)
    {
        _system = system;
        _size = size;
        _twin = new SpinningWorker(() => RunPairs(_system, _size), "bench twin");
    }

    /// <summary>Both threads do <see cref="TwoThreadScenario.Pieces"/> pairs; returns when both are done.</summary>
    public void Run()
    {
        _twin.Start();
        RunPairs(_system, _size);
        _twin.Wait();
    }

    public void Dispose() => _twin.Dispose();

    /// <summary><see cref="TwoThreadScenario.Pieces"/> Alloc + release pairs on the calling thread.</summary>
    /// <remarks>
    /// One compiled loop for the baseline and both threads: out of line, so neither the benchmark method nor
    /// the worker's spin loop (which inlines its delegate's target by guarded devirtualization) compiles a copy
    /// of its own, and with the count a constant. The JIT keeps a loop's thread-statics address in a register
    /// only when a callee-saved register is free for it; the same loop with its count read from a field, as
    /// this rig had it, called the TLS resolver on every pair on the second thread only: 4.6-4.8 ns a pair
    /// there against 2.4-2.9 on the benchmark thread, which scenario 4 reported as 2.1x-2.2x "two-thread cost"
    /// (docs/benchmarks.md, step 33).
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void RunPairs(TSystem system, int size) => Workloads.Pairs<TSystem, THandle>(system, size, TwoThreadScenario.Pieces);
}
