using System;
using System.Diagnostics;
using NativeZcopy;

// Placeholder until the benchmark suite lands: with arguments, BenchmarkDotNet over every benchmark class
// of this assembly (for example --filter '*MetricsOverhead*'); without, a plain timed loop of Alloc+Put
// pairs against NativeMemory.Alloc+Free, measured now, in this process.
if (args.Length > 0)
{
    BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(NativeZcopy.Bench.MetricsOverheadBenchmarks).Assembly).Run(args);
    return;
}

const int Pairs = 5_000_000;
using var allocator = new ZcopyAllocator();
for (int round = 0; round < 3; round++)
{
    var watch = Stopwatch.StartNew();
    for (int i = 0; i < Pairs; i++)
    {
        NativePages.Put(allocator.Alloc(128));
    }

    double zcopy = watch.Elapsed.TotalNanoseconds / Pairs;
    watch.Restart();
    for (int i = 0; i < Pairs; i++)
    {
        unsafe
        {
            System.Runtime.InteropServices.NativeMemory.Free(System.Runtime.InteropServices.NativeMemory.Alloc(128));
        }
    }

    double malloc = watch.Elapsed.TotalNanoseconds / Pairs;
    Console.WriteLine($"round {round}: ZcopyAllocator Alloc+Put 128 B {zcopy:F1} ns, NativeMemory Alloc+Free {malloc:F1} ns, ratio {zcopy / malloc:F2}");
}

Console.WriteLine(allocator.GetStatistics());
