using System;
using System.Diagnostics;
using BenchmarkDotNet.Running;
using NativeZcopy;
using NativeZcopy.Bench;

// With arguments, BenchmarkSwitcher over every benchmark class here (e.g. --filter '*SocketSend*'); the
// suite's own Program (issue 3) replaces this file when it lands.
if (args.Length > 0)
{
    BenchmarkSwitcher.FromAssembly(typeof(SocketSendBenchmarks).Assembly).Run(args);
    return;
}

// Placeholder until the benchmark suite lands: a plain timed loop of Alloc+Put pairs against
// NativeMemory.Alloc+Free, measured now, in this process.
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
