using System;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Issue 6's batch entry points: a message's protocol pieces (64 B header, 16 B trailer, 8 B padding)
/// allocated and released together with <see cref="ZcopyAllocator.AllocBatch"/> and
/// <see cref="NativePages.PutBatch"/>, against the same pieces one call at a time and against malloc.
/// Per-op figures are per piece.
/// </summary>
[MemoryDiagnoser]
public class MessageBatches
{
    private const int Messages = 300;
    private const int PiecesPerMessage = 3;
    private static readonly int[] s_sizes = [64, 16, 8];

    private readonly BioVec[] _pieces = new BioVec[PiecesPerMessage];
    private ZcopyAllocator? _allocator;

    [GlobalSetup]
    public void Setup() => _allocator = new ZcopyAllocator();

    [GlobalCleanup]
    public void Cleanup() => _allocator?.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages * PiecesPerMessage)]
    public void OneAtATime()
    {
        ZcopyAllocator allocator = _allocator!;
        for (int m = 0; m < Messages; m++)
        {
            BioVec header = allocator.Alloc(64);
            BioVec trailer = allocator.Alloc(16);
            BioVec padding = allocator.Alloc(8);
            NativePages.Put(header);
            NativePages.Put(trailer);
            NativePages.Put(padding);
        }
    }

    [Benchmark(OperationsPerInvoke = Messages * PiecesPerMessage)]
    public void AllocBatchPutBatch()
    {
        ZcopyAllocator allocator = _allocator!;
        Span<BioVec> pieces = _pieces;
        for (int m = 0; m < Messages; m++)
        {
            allocator.AllocBatch(s_sizes, pieces);
            NativePages.PutBatch(pieces);
        }
    }

    [Benchmark(OperationsPerInvoke = Messages * PiecesPerMessage)]
    public unsafe void NativeMemory()
    {
        for (int m = 0; m < Messages; m++)
        {
            void* header = System.Runtime.InteropServices.NativeMemory.Alloc(64);
            void* trailer = System.Runtime.InteropServices.NativeMemory.Alloc(16);
            void* padding = System.Runtime.InteropServices.NativeMemory.Alloc(8);
            System.Runtime.InteropServices.NativeMemory.Free(header);
            System.Runtime.InteropServices.NativeMemory.Free(trailer);
            System.Runtime.InteropServices.NativeMemory.Free(padding);
        }
    }
}
