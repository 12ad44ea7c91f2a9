using BenchmarkDotNet.Attributes;
using DotNetty.Buffers;
using NativeZcopy.Bench.Systems;
using NativeZcopy.Bench.Threads;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Scenario 4: two threads allocating and releasing pairs at once (the machine has two cores). The per-op
/// figure is wall time per pair per thread; the Ratio against the same system's single-thread pair says how
/// far each thread falls short of running alone (1.00 is perfect scaling). The baseline and both threads run
/// one compiled loop, <see cref="TwinRig{TSystem, THandle}.RunPairs"/>.
/// </summary>
public class Scenario4TwoThreads : TwoThreadScenario
{
    private TwinRig<ZcopySystem, BioVec>? _zcopyRig;
    private TwinRig<NativeMemorySystem, nint>? _mallocRig;
    private TwinRig<ArrayPoolPinSystem, PinnedRental>? _arrayPoolRig;
    private TwinRig<DotNettySystem, IByteBuffer>? _dotNettyRig;

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("NativeZcopy")]
    public void NativeZcopyOneThread() => TwinRig<ZcopySystem, BioVec>.RunPairs(Zcopy, Size);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("NativeZcopy")]
    public void NativeZcopyTwoThreads() => (_zcopyRig ??= Started(new TwinRig<ZcopySystem, BioVec>(Zcopy, Size))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("NativeMemory")]
    public void NativeMemoryOneThread() => TwinRig<NativeMemorySystem, nint>.RunPairs(default, Size);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("NativeMemory")]
    public void NativeMemoryTwoThreads() => (_mallocRig ??= Started(new TwinRig<NativeMemorySystem, nint>(default, Size))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("ArrayPoolPin")]
    public void ArrayPoolPinOneThread() => TwinRig<ArrayPoolPinSystem, PinnedRental>.RunPairs(default, Size);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("ArrayPoolPin")]
    public void ArrayPoolPinTwoThreads() => (_arrayPoolRig ??= Started(new TwinRig<ArrayPoolPinSystem, PinnedRental>(default, Size))).Run();

    [Benchmark(Baseline = true, OperationsPerInvoke = Pieces), BenchmarkCategory("DotNettyPooled")]
    public void DotNettyOneThread() => TwinRig<DotNettySystem, IByteBuffer>.RunPairs(DotNetty, Size);

    [Benchmark(OperationsPerInvoke = Pieces), BenchmarkCategory("DotNettyPooled")]
    public void DotNettyTwoThreads() => (_dotNettyRig ??= Started(new TwinRig<DotNettySystem, IByteBuffer>(DotNetty, Size))).Run();

    private protected override void ForgetRigs()
    {
        _zcopyRig = null;
        _mallocRig = null;
        _arrayPoolRig = null;
        _dotNettyRig = null;
    }
}
