using System.Threading;
using BenchmarkDotNet.Attributes;
using NativeZcopy;

namespace NativeZcopy.Bench;

/// <summary>
/// What fragment tracking costs on the hot path: Alloc(128) + Put pairs on an allocator with tracking
/// off (the baseline: the only cost is a test of a bit of an entry already in a register), sampled at
/// Netty's 1 in 128 folio lives, and with every fragment tracked.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1001 // BenchmarkDotNet needs an unsealed class and owns the lifetime: [GlobalCleanup] disposes the allocators.
public class TrackingOverheadBenchmarks
#pragma warning restore CA1001
{
    private const int Pairs = 1000;

    private ZcopyAllocator _off = null!;
    private ZcopyAllocator _sampled = null!;
    private ZcopyAllocator _tracked = null!;

    [GlobalSetup]
    public void Setup()
    {
        _off = new ZcopyAllocator();
        _sampled = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackingSampleRate = ZcopyAllocatorOptions.DefaultTrackingSampleRate, LeakReportAge = Timeout.InfiniteTimeSpan });
        _tracked = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _off.Dispose();
        _sampled.Dispose();
        _tracked.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Pairs)]
    public void TrackingOff() => Run(_off);

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void Sampled1In128() => Run(_sampled);

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void EveryFragmentTracked() => Run(_tracked);

    private static void Run(ZcopyAllocator allocator)
    {
        for (int i = 0; i < Pairs; i++)
        {
            NativePages.Put(allocator.Alloc(128));
        }
    }
}
