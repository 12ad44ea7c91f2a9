using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Scenario 6: scenario 2's batches across folio sizes (<see cref="ZcopyAllocatorOptions.FolioSize"/>):
/// cost per piece including mapping, beside the OS floor of mapping the same bytes in mappings of that size.
/// </summary>
public class Scenario6FolioSweep
{
    private const int Pieces = 1000;

    private readonly BioVec[] _slots = new BioVec[Pieces];
    private ZcopyAllocator[] _zcopy = [];

    /// <summary>Bytes per folio.</summary>
    [Params(4 * 1024, 16 * 1024, 64 * 1024, 2 * 1024 * 1024)]
    public int FolioSize { get; set; }

    /// <summary>Fragment size in bytes (at most half the smallest folio).</summary>
    [Params(64, 1024)]
    public int Size { get; set; }

    public static IEnumerable<ZcopyVariant> Variants => ZcopyVariant.All;

    [GlobalSetup]
    public void Setup() => _zcopy = ZcopyVariant.CreateAll(FolioSize);

    [GlobalCleanup]
    public void Cleanup() => ZcopyVariant.DisposeAll(_zcopy);

    [Benchmark(OperationsPerInvoke = Pieces)]
    [ArgumentsSource(nameof(Variants))]
    public void ZcopyAllocator(ZcopyVariant variant) => Workloads.Batch(new ZcopySystem(_zcopy[variant.Index]), _slots, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void OsMapTouchUnmap() => OsFloor.MapTouchUnmap((long)Pieces * Size, FolioSize);

    /// <summary>The same mappings as the allocator's defaults make them: prefaulted, huge pages for whole 2 MiB.</summary>
    [Benchmark(OperationsPerInvoke = Pieces)]
    public void OsMapPopulateUnmap() => OsFloor.MapPopulateUnmap((long)Pieces * Size, FolioSize);
}
