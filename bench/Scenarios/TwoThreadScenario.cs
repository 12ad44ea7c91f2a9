using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using DotNetty.Buffers;
using NativeZcopy.Bench.Systems;
using NativeZcopy.Bench.Threads;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// What scenarios 3 and 4 share: four systems (NativeZcopy with its default policy, malloc, ArrayPool + Pin,
/// DotNetty), each with its single-thread pair cost as the baseline of its own category, so the Ratio
/// column reads "cost of this threading pattern against one thread doing pairs alone".
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public abstract class TwoThreadScenario
{
    /// <summary>
    /// Pieces per benchmark invocation (per thread); per-op figures are per piece. A constant the rigs' loops
    /// use too (see <see cref="TwinRig{TSystem, THandle}.RunPairs"/>).
    /// </summary>
    internal const int Pieces = 4096;

    /// <summary>Rigs started by the benchmarks of the current case, stopped at its cleanup.</summary>
    private readonly List<IDisposable> _rigs = [];

    private ZcopyAllocator? _zcopy;
    private ZcopyAllocator? _zcopyRetaining;
    private IByteBufferAllocator? _dotNetty;

    /// <summary>Fragment size in bytes.</summary>
    [Params(256)]
    public int Size { get; set; }

    private protected ZcopySystem Zcopy => new(_zcopy!);

    /// <summary>NativeZcopy with <see cref="ZcopyVariant.Retaining"/>: dead folios kept for reuse, not unmapped.</summary>
    private protected ZcopySystem ZcopyRetaining => new(_zcopyRetaining!);

    private protected DotNettySystem DotNetty => new(_dotNetty!);

    [GlobalSetup]
    public void Setup()
    {
        _zcopy = ZcopyVariant.Default.CreateAllocator();
        _zcopyRetaining = ZcopyVariant.Retaining.CreateAllocator();
        _dotNetty = DotNettySystem.CreateAllocator();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (IDisposable rig in _rigs)
        {
            rig.Dispose();
        }

        _rigs.Clear();
        ForgetRigs();
        _zcopy?.Dispose();
        _zcopyRetaining?.Dispose();
    }

    /// <summary>Drops the derived class's references to rigs the cleanup has stopped.</summary>
    private protected abstract void ForgetRigs();

    /// <summary>Keeps a rig (created on a benchmark's first call) so the cleanup stops its thread.</summary>
    private protected TRig Started<TRig>(TRig rig)
        where TRig : IDisposable
    {
        _rigs.Add(rig);
        return rig;
    }
}
