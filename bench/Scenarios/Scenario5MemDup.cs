using System;
using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Scenario 5: <see cref="ZcopyAllocator.MemDup"/> (+ Put) of 64 B to 2 KiB against the copy's floor,
/// <c>Buffer.MemoryCopy</c> into a preallocated native buffer, and malloc + copy + free.
/// </summary>
public unsafe class Scenario5MemDup
{
    private const int Copies = 1000;
    private const int MaxSize = 2048;

    private readonly byte[] _source = Enumerable.Range(0, MaxSize).Select(i => (byte)i).ToArray();
    private ZcopyAllocator[] _zcopy = [];
    private byte* _destination;

    /// <summary>Bytes copied.</summary>
    [ParamsSource(nameof(Sizes))]
    public int Size { get; set; }

    public static IEnumerable<int> Sizes => SuiteMode.IsShort ? [64, 1024] : [64, 256, 1024, 2048];

    public static IEnumerable<ZcopyVariant> Variants => ZcopyVariant.All;

    [GlobalSetup]
    public void Setup()
    {
        _zcopy = ZcopyVariant.CreateAll();
        _destination = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc(MaxSize);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        ZcopyVariant.DisposeAll(_zcopy);

        System.Runtime.InteropServices.NativeMemory.Free(_destination);
    }

    [Benchmark(OperationsPerInvoke = Copies)]
    [ArgumentsSource(nameof(Variants))]
    public void ZcopyAllocator(ZcopyVariant variant)
    {
        ZcopyAllocator allocator = _zcopy[variant.Index];
        ReadOnlySpan<byte> source = _source.AsSpan(0, Size);
        for (int i = 0; i < Copies; i++)
        {
            NativePages.Put(allocator.MemDup(source));
        }
    }

    [Benchmark(OperationsPerInvoke = Copies)]
    public void MemoryCopyFloor()
    {
        fixed (byte* source = _source)
        {
            for (int i = 0; i < Copies; i++)
            {
                Buffer.MemoryCopy(source, _destination, MaxSize, Size);
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Copies)]
    public void NativeMemory()
    {
        fixed (byte* source = _source)
        {
            for (int i = 0; i < Copies; i++)
            {
                void* copy = System.Runtime.InteropServices.NativeMemory.Alloc((nuint)Size);
                Buffer.MemoryCopy(source, copy, Size, Size);
                System.Runtime.InteropServices.NativeMemory.Free(copy);
            }
        }
    }
}
