using System;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Globalization;
using NativeZcopy.Bench.Interop.Unix.Libc;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Memory;

/// <summary>
/// Scenario 7, a measured program mode (<c>-- memory</c>), since mapped bytes are not a time: bytes mapped
/// per byte live under a mixed-lifetime workload, NativeZcopy against malloc (<c>NativeMemory</c>).
/// </summary>
/// <remarks>
/// <para>
/// The workload: <see cref="Operations"/> allocations of 32 to 512 bytes (a fixed random sequence, the
/// same for every system). Each piece lives for the next <see cref="Window"/> allocations (a FIFO), except
/// one in <see cref="LongLivedEvery"/>, which lives to the end: it pins its NativeZcopy folio, the known
/// weakness of page-fragment allocators.
/// </para>
/// <para>
/// Mapped bytes: NativeZcopy's are exact (<see cref="ZcopyStatistics.BytesMapped"/>: folios mapped now,
/// the arenas' current and spare included). malloc's are glibc's <c>mallinfo2</c> <c>arena + hblkhd</c>
/// (bytes taken from the OS for heaps plus separately mapped chunks), less the same figure before the run:
/// it is process-wide, so a runtime thread's own mallocs could add noise, and it needs glibc. RSS
/// (/proc/self/status) was not used: it counts the whole runtime and only pages touched. Both are sampled
/// every <see cref="SampleEvery"/> allocations and once more at the end.
/// </para>
/// </remarks>
internal static class MixedLifetimeMemory
{
    private const int Operations = 1_000_000;
    private const int Window = 1000;
    private const int LongLivedEvery = 1000;
    private const int SampleEvery = 64;

    /// <summary>
    /// Runs <see cref="Run"/> in a new process of this program: malloc's figure is process-wide, and after a
    /// long benchmark run the heap's free space and the runtime's own mallocs would skew it.
    /// </summary>
    public static int RunInFreshProcess()
    {
        using Process child = Process.Start(new ProcessStartInfo(Environment.ProcessPath!, "memory") { UseShellExecute = false })!;
        child.WaitForExit();
        return child.ExitCode;
    }

    /// <summary>Runs the workload on malloc and on NativeZcopy with three folio sizes; prints one table.</summary>
    public static int Run()
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.WriteLine("scenario 7 (memory) reads glibc's mallinfo2 and runs on Linux only.");
            return 1;
        }

        Console.WriteLine();
        Console.WriteLine($"Scenario 7: mixed lifetimes, {Operations:N0} allocations of 32-512 B, each live for the next {Window:N0}, 1 in {LongLivedEvery:N0} live to the end.");

        MixedLifetimeResult malloc = Measure<NativeMemorySystem, nint>(default, MallocMappedBytes, Operations);

        Console.WriteLine($"{"System",-46} {"peak mapped KiB",16} {"peak live KiB",14} {"mapped/live",12} {"vs malloc",10} {"long-lived only KiB",20}");
        Console.WriteLine(new string('-', 123));
        Print("NativeMemory (malloc)", malloc, malloc);
        foreach (ZcopyVariant variant in ZcopyVariant.All)
        {
            foreach (int folioSize in new[] { 4 * 1024, 16 * 1024, ZcopyAllocatorOptions.DefaultFolioSize })
            {
                using ZcopyAllocator allocator = variant.CreateAllocator(folioSize);
                MixedLifetimeResult zcopy = Measure<ZcopySystem, BioVec>(new ZcopySystem(allocator), () => allocator.GetStatistics().BytesMapped, Operations);
                Print($"NativeZcopy ({variant}, {folioSize / 1024} KiB folio)", zcopy, malloc);
            }
        }

        Console.WriteLine("mapped/live: peak mapped over peak live bytes; vs malloc: peak mapped over malloc's; long-lived only: mapped once only the long-lived pieces remain.");
        return 0;
    }

    /// <summary>
    /// Runs the workload once. Compiled fully optimized up front (no tiering), so no re-compilation on a
    /// background thread mallocs memory into malloc's figure while it runs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static MixedLifetimeResult Measure<TSystem, THandle>(TSystem system, Func<long> mappedBytes, int operations)
        where TSystem : struct, IPieceSystem<THandle>
    {
        var random = new Random(7);
        var window = new (THandle Piece, int Size)[Window];
        var longLived = new THandle[operations / LongLivedEvery];
        int longLivedCount = 0;
        long live = 0;
        long peakLive = 0;
        long baseline = mappedBytes();
        long peakMapped = 0;
        for (int i = 0; i < operations; i++)
        {
            int size = random.Next(4, 65) * 8;
            THandle piece = system.Alloc(size);
            live += size;
            if (i % LongLivedEvery == LongLivedEvery - 1)
            {
                longLived[longLivedCount++] = piece;
            }
            else
            {
                ref (THandle Piece, int Size) slot = ref window[i % Window];
                if (i >= Window && slot.Size != 0)
                {
                    system.Release(slot.Piece);
                    live -= slot.Size;
                }

                slot = (piece, size);
            }

            peakLive = Math.Max(peakLive, live);
            if (i % SampleEvery == 0)
            {
                peakMapped = Math.Max(peakMapped, mappedBytes() - baseline);
            }
        }

        peakMapped = Math.Max(peakMapped, mappedBytes() - baseline);
        foreach ((THandle piece, int size) in window)
        {
            if (size != 0)
            {
                system.Release(piece);
            }
        }

        long longLivedOnly = mappedBytes() - baseline;
        for (int i = 0; i < longLivedCount; i++)
        {
            system.Release(longLived[i]);
        }

        return new MixedLifetimeResult(peakMapped, peakLive, longLivedOnly);
    }

    private static long MallocMappedBytes()
    {
        MallInfo2Interop.MallInfo2 info = MallInfo2Interop.GetMallInfo2();
        return (long)(info.Arena + info.HBlkHd);
    }

    private static void Print(string system, MixedLifetimeResult result, MixedLifetimeResult malloc) =>
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{system,-46} {result.PeakMapped / 1024.0,16:N0} {result.PeakLive / 1024.0,14:N0} {(double)result.PeakMapped / result.PeakLive,12:0.00} {(double)result.PeakMapped / malloc.PeakMapped,10:0.00} {result.LongLivedOnly / 1024.0,20:N0}"));
}
