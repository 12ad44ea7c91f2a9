using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Scenario 1 with one pair per call (<see cref="Workloads.PairsOnePerCall"/>): the pair targets in
/// the shape a server meets them, where scenario 1's loop lets the JIT keep per-thread state in registers
/// across pairs. Only the default policy runs: the policies take the same path for a pair. Not in the short
/// run: in its one long process this method without a loop is optimized too late (docs/benchmarks.md, How to run).
/// </summary>
public class Scenario1PairsPerCall : PeerScenario
{
    /// <summary>The default policy alone, the reference of every ratio.</summary>
    public static IEnumerable<ZcopyVariant> DefaultVariant => [ZcopyVariant.All[0]];

    [Benchmark(OperationsPerInvoke = Pieces)]
    [ArgumentsSource(nameof(DefaultVariant))]
    public void ZcopyAllocator(ZcopyVariant variant) => Workloads.PairsOnePerCall<ZcopySystem, BioVec>(ZcopyOf(variant), Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ZcopyLocalCache() => Workloads.PairsOnePerCall<ZcopyLocalCacheSystem, BioVec>(LocalCache, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void NativeMemory() => Workloads.PairsOnePerCall<NativeMemorySystem, nint>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ArrayPool() => Workloads.PairsOnePerCall<ArrayPoolSystem, byte[]>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void BumpPointerFloor() => Workloads.PairsOnePerCall<BumpFloorSystem, nint>(BumpFloor, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void SpinLockedFloor() => Workloads.PairsOnePerCall<SpinLockedFloorSystem, nint>(SpinLocked, Size, Pieces);
}
