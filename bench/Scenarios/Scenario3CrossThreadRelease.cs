using BenchmarkDotNet.Attributes;
using DotNetty.Buffers;
using NativeZcopy.Bench.Systems;
using NativeZcopy.Bench.Threads;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Scenario 3: one thread allocates, another releases, through a bounded ring of 256 slots. The per-op
/// figure is wall time per piece with both threads busy; the Ratio is against the same system's
/// single-thread pair. The RingOnlyFloor category hands a plain value through the same ring with nothing
/// allocated, so its cross-thread row is what the hand-off alone costs; its baseline puts each value in
/// and takes it out on one thread. RingOnlyPieceFloor does the same with a <see cref="BioVec"/>-sized
/// handle, three times the bytes per slot, which is what NativeZcopy's rows hand over.
/// </summary>
public class Scenario3CrossThreadRelease : TwoThreadScenario
{
    private const int RingCapacity = 256;

    private CrossThreadRig<ZcopySystem, BioVec>? _zcopyRig;
    private CrossThreadRig<ZcopySystem, BioVec>? _zcopyRetainingRig;
    private CrossThreadRig<NativeMemorySystem, nint>? _mallocRig;
    private CrossThreadRig<ArrayPoolPinSystem, PinnedRental>? _arrayPoolRig;
    private CrossThreadRig<DotNettySystem, IByteBuffer>? _dotNettyRig;
    private CrossThreadRig<RingOnlyFloorSystem, nint>? _floorRig;
    private SpscRing<nint>? _floorRing;
    private CrossThreadRig<RingOnlyPieceFloorSystem, BioVec>? _pieceFloorRig;
    private SpscRing<BioVec>? _pieceFloorRing;

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("NativeZcopy")]
    public void NativeZcopySameThread() => Workloads.Pairs<ZcopySystem, BioVec>(Zcopy, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("NativeZcopy")]
    public void NativeZcopyCrossThread() => (_zcopyRig ??= Started(new CrossThreadRig<ZcopySystem, BioVec>(Zcopy, Size, RingCapacity))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("NativeZcopy (retain-16)")]
    public void NativeZcopyRetainingSameThread() => Workloads.Pairs<ZcopySystem, BioVec>(ZcopyRetaining, Size, Pieces);

    /// <summary>
    /// The default policy unmaps a folio at its final release, which here lands on the releasing thread
    /// after the allocating thread's arena has moved on, so every lap of the ring maps and unmaps a folio;
    /// with retention the folio is kept and reused, and what is left is the allocator's own cross-thread cost.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("NativeZcopy (retain-16)")]
    public void NativeZcopyRetainingCrossThread() => (_zcopyRetainingRig ??= Started(new CrossThreadRig<ZcopySystem, BioVec>(ZcopyRetaining, Size, RingCapacity))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("NativeMemory")]
    public void NativeMemorySameThread() => Workloads.Pairs<NativeMemorySystem, nint>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("NativeMemory")]
    public void NativeMemoryCrossThread() => (_mallocRig ??= Started(new CrossThreadRig<NativeMemorySystem, nint>(default, Size, RingCapacity))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("ArrayPoolPin")]
    public void ArrayPoolPinSameThread() => Workloads.Pairs<ArrayPoolPinSystem, PinnedRental>(default, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("ArrayPoolPin")]
    public void ArrayPoolPinCrossThread() => (_arrayPoolRig ??= Started(new CrossThreadRig<ArrayPoolPinSystem, PinnedRental>(default, Size, RingCapacity))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("DotNettyPooled")]
    public void DotNettySameThread() => Workloads.Pairs<DotNettySystem, IByteBuffer>(DotNetty, Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("DotNettyPooled")]
    public void DotNettyCrossThread() => (_dotNettyRig ??= Started(new CrossThreadRig<DotNettySystem, IByteBuffer>(DotNetty, Size, RingCapacity))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("RingOnlyFloor")]
    public void RingOnlyFloorSameThread() => Workloads.RingRoundTrips(_floorRing ??= new SpscRing<nint>(RingCapacity), Size, Pieces);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("RingOnlyFloor")]
    public void RingOnlyFloorCrossThread() => (_floorRig ??= Started(new CrossThreadRig<RingOnlyFloorSystem, nint>(default, Size, RingCapacity))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("RingOnlyPieceFloor")]
    public void RingOnlyPieceFloorSameThread() => Workloads.RingRoundTrips(_pieceFloorRing ??= new SpscRing<BioVec>(RingCapacity), default, Pieces);

    /// <summary>The hand-off of a <see cref="BioVec"/>-sized handle alone: NativeZcopy's cross-thread rows less the allocator.</summary>
    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("RingOnlyPieceFloor")]
    public void RingOnlyPieceFloorCrossThread() => (_pieceFloorRig ??= Started(new CrossThreadRig<RingOnlyPieceFloorSystem, BioVec>(default, Size, RingCapacity))).Run();

    private protected override void ForgetRigs()
    {
        _zcopyRig = null;
        _zcopyRetainingRig = null;
        _mallocRig = null;
        _arrayPoolRig = null;
        _dotNettyRig = null;
        _floorRig = null;
        _floorRing = null;
        _pieceFloorRig = null;
        _pieceFloorRing = null;
    }
}
