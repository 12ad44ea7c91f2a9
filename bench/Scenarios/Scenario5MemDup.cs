using System;
using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Scenario 5: <see cref="ZcopyAllocator.MemDup"/> (+ Put) of 64 B to 2 KiB against the copy's floor,
/// <c>Buffer.MemoryCopy</c> into a preallocated native buffer, the same copy into successive places of a
/// folio-sized buffer (the lines a MemDup writes), and malloc + copy + free.
/// </summary>
/// <remarks>
/// Every row copies from the same page-aligned native source. The source was a managed array, whose bytes
/// start 16 bytes into an 8-byte-aligned object: where the GC put it decided how many of the copy's wide
/// loads split a cache line and whether they 4K-aliased the destination, so the warm floor measured 7.6 ns
/// at 1 KiB in one session and 13.1 ns in the next, and MemDup from an aligned source 10.4 ns against 13.1
/// from the array in one run (docs/benchmarks.md, step 31). The warm floor's destination is page-aligned too,
/// the placement that measured fastest, so the floor is its own best case.
/// </remarks>
public unsafe class Scenario5MemDup
{
    private const int Copies = 1000;
    private const int MaxSize = 2048;

    /// <summary>Bytes of a page, the alignment of the source and of the warm floor's destination.</summary>
    private const int PageAlignment = 4096;

    private ZcopyAllocator[] _zcopy = [];
    private byte* _source;
    private byte* _destination;
    private byte* _folio;
    private int _folioOffset;

    /// <summary>Bytes copied.</summary>
    [ParamsSource(nameof(Sizes))]
    public int Size { get; set; }

    public static IEnumerable<int> Sizes => SuiteMode.IsShort ? [64, 1024] : [64, 256, 1024, 2048];

    public static IEnumerable<ZcopyVariant> Variants => ZcopyVariant.All;

    [GlobalSetup]
    public void Setup()
    {
        _zcopy = ZcopyVariant.CreateAll();
        _source = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(MaxSize, PageAlignment);
        for (int i = 0; i < MaxSize; i++)
        {
            _source[i] = (byte)i;
        }

        _destination = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(MaxSize, PageAlignment);
        _folio = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(ZcopyAllocatorOptions.DefaultFolioSize, 4096);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        ZcopyVariant.DisposeAll(_zcopy);

        System.Runtime.InteropServices.NativeMemory.AlignedFree(_source);
        System.Runtime.InteropServices.NativeMemory.AlignedFree(_destination);
        System.Runtime.InteropServices.NativeMemory.AlignedFree(_folio);
    }

    [Benchmark(OperationsPerInvoke = Copies)]
    [ArgumentsSource(nameof(Variants))]
    public void ZcopyAllocator(ZcopyVariant variant)
    {
        ZcopyAllocator allocator = _zcopy[variant.Index];
        var source = new ReadOnlySpan<byte>(_source, Size);
        for (int i = 0; i < Copies; i++)
        {
            NativePages.Put(allocator.MemDup(source));
        }
    }

    [Benchmark(OperationsPerInvoke = Copies)]
    public void MemoryCopyFloor()
    {
        for (int i = 0; i < Copies; i++)
        {
            Buffer.MemoryCopy(_source, _destination, MaxSize, Size);
        }
    }

    /// <summary>
    /// The copy into the lines a MemDup writes: each copy lands after the previous one in a folio-sized buffer
    /// and wraps at its end, as pieces are cut from a folio that is then reissued in place. What this costs
    /// above <see cref="MemoryCopyFloor"/> is the price of writing lines that are not in L1, which no
    /// allocator that never hands the same bytes out twice in one folio life can avoid.
    /// </summary>
    [Benchmark(OperationsPerInvoke = Copies)]
    public void MemoryCopyFreshLinesFloor()
    {
        int step = (Size + ZcopyAllocatorOptions.DefaultAlignment - 1) & ~(ZcopyAllocatorOptions.DefaultAlignment - 1);
        int offset = _folioOffset;
        for (int i = 0; i < Copies; i++)
        {
            if (offset + step > ZcopyAllocatorOptions.DefaultFolioSize)
            {
                offset = 0;
            }

            Buffer.MemoryCopy(_source, _folio + offset, step, Size);
            offset += step;
        }

        _folioOffset = offset;
    }

    [Benchmark(OperationsPerInvoke = Copies)]
    public void NativeMemory()
    {
        for (int i = 0; i < Copies; i++)
        {
            void* copy = System.Runtime.InteropServices.NativeMemory.Alloc((nuint)Size);
            Buffer.MemoryCopy(_source, copy, Size, Size);
            System.Runtime.InteropServices.NativeMemory.Free(copy);
        }
    }
}
