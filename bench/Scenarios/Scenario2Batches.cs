using System.Buffers;
using BenchmarkDotNet.Attributes;
using DotNetty.Buffers;
using NativeZcopy.Bench.Reporting;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Scenario 2: allocate 1,000 pieces, then release them all, so NativeZcopy's folios really turn over and
/// the cost of mapping and unmapping shows up per piece. Per-op figures are per piece.
/// </summary>
[ChartedScenario("scenario2-batches", "Scenario 2: batches of 1,000 pieces, then release all")]
public class Scenario2Batches : PeerScenario
{
    private readonly BioVec[] _bioVecs = new BioVec[Pieces];
    private readonly nint[] _addresses = new nint[Pieces];
    private readonly byte[][] _arrays = new byte[Pieces][];
    private readonly PinnedRental[] _rentals = new PinnedRental[Pieces];
    private readonly IMemoryOwner<byte>[] _owners = new IMemoryOwner<byte>[Pieces];
    private readonly IByteBuffer[] _buffers = new IByteBuffer[Pieces];

    [Benchmark(OperationsPerInvoke = Pieces)]
    [ArgumentsSource(nameof(Variants))]
    public void ZcopyAllocator(ZcopyVariant variant) => Workloads.Batch(ZcopyOf(variant), _bioVecs, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ZcopyLocalCache() => Workloads.Batch(LocalCache, _bioVecs, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void NativeMemory() => Workloads.Batch(default(NativeMemorySystem), _addresses, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ArrayPool() => Workloads.Batch(default(ArrayPoolSystem), _arrays, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ArrayPoolPin() => Workloads.Batch(default(ArrayPoolPinSystem), _rentals, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void PinnedArray() => Workloads.Batch(default(PinnedArraySystem), _arrays, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void ZcopyMemoryPool() => Workloads.Batch(Pool, _owners, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void MemoryPool() => Workloads.Batch(default(MemoryPoolSystem), _owners, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void DotNettyPooled() => Workloads.Batch(DotNetty, _buffers, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void BumpPointerFloor() => Workloads.Batch(BumpFloor, _addresses, Size);

    [Benchmark(OperationsPerInvoke = Pieces)]
    public void SpinLockedFloor() => Workloads.Batch(SpinLocked, _addresses, Size);

    /// <summary>mmap + first touch + munmap of the batch's bytes, in 64 KiB (default folio) mappings.</summary>
    [Benchmark(OperationsPerInvoke = Pieces)]
    public void OsMapTouchUnmap() => OsFloor.MapTouchUnmap((long)Pieces * Size, ZcopyAllocatorOptions.DefaultFolioSize);

    /// <summary>The same mappings prefaulted, as the allocator's defaults map its folios: one call, no fault per page.</summary>
    [Benchmark(OperationsPerInvoke = Pieces)]
    public void OsMapPopulateUnmap() => OsFloor.MapPopulateUnmap((long)Pieces * Size, ZcopyAllocatorOptions.DefaultFolioSize);
}
