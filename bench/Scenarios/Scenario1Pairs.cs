using BenchmarkDotNet.Attributes;
using NativeZcopy.Bench.Reporting;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>Scenario 1: Alloc + release pairs, one piece at a time, on one thread.</summary>
[ChartedScenario("scenario1-pairs", "Scenario 1: Alloc + release, one piece at a time")]
public class Scenario1Pairs : PeerScenario
{
    [Benchmark(OperationsPerInvoke = Pieces)]
    [ArgumentsSource(nameof(Variants))]
    public void ZcopyAllocator(ZcopyVariant variant) => Workloads.Pairs<ZcopySystem, BioVec>(ZcopyOf(variant), Size, Pieces);

    /// <summary>The default allocator through <see cref="NativeZcopy.ZcopyAllocator.TryAlloc"/>: no exception on the way.</summary>
    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ZcopyTryAlloc() => Workloads.Pairs<ZcopyTryAllocSystem, BioVec>(TryAllocSystem, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ZcopyLocalCache() => Workloads.Pairs<ZcopyLocalCacheSystem, BioVec>(LocalCache, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void NativeMemory() => Workloads.Pairs<NativeMemorySystem, nint>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ArrayPool() => Workloads.Pairs<ArrayPoolSystem, byte[]>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ArrayPoolPin() => Workloads.Pairs<ArrayPoolPinSystem, PinnedRental>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void PinnedArray() => Workloads.Pairs<PinnedArraySystem, byte[]>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ZcopyMemoryPool() => Workloads.Pairs<ZcopyMemoryPoolSystem, System.Buffers.IMemoryOwner<byte>>(Pool, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void MemoryPool() => Workloads.Pairs<MemoryPoolSystem, System.Buffers.IMemoryOwner<byte>>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void DotNettyPooled() => Workloads.Pairs<DotNettySystem, DotNetty.Buffers.IByteBuffer>(DotNetty, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void BumpPointerFloor() => Workloads.Pairs<BumpFloorSystem, nint>(BumpFloor, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void SpinLockedFloor() => Workloads.Pairs<SpinLockedFloorSystem, nint>(SpinLocked, Size, Pieces);
}
