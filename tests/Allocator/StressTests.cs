using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace NativeZcopy.Tests.Allocator;

/// <summary>
/// mimalloc-style cross-thread stress: workers allocate random sizes, write a pattern, hand each piece
/// to another worker, which checks every byte, sometimes takes and drops extra refs, and releases it.
/// </summary>
/// <remarks>
/// Soak mode: set <c>NATIVEZCOPY_SOAK_MINUTES</c> (e.g. <c>NATIVEZCOPY_SOAK_MINUTES=30 dotnet test --filter
/// StressTests</c>) and each stress runs that long, writing throughput and peak mapped memory to the test
/// output every <see cref="ReportEvery"/>; without it each runs a few seconds.
/// </remarks>
public sealed class StressTests(ITestOutputHelper output)
{
    private const string SoakVariable = "NATIVEZCOPY_SOAK_MINUTES";

    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData(0, 3)]
    [InlineData(8, 2)]
    [InlineData(1, 2)]
    public async Task Workers_exchanging_pieces_leave_no_live_folio_and_every_byte_intact(int trackingSampleRate, int seconds)
    {
        TimeSpan duration = SoakDuration() ?? TimeSpan.FromSeconds(seconds);
        const int Workers = 4;
        var source = new FaultInjectingPageSource();
        var options = new ZcopyAllocatorOptions { FolioSize = 16384, TrackingSampleRate = trackingSampleRate, LeakReportAge = Timeout.InfiniteTimeSpan };
        var allocator = new ZcopyAllocator(options, source, Environment.ProcessorCount);
        var runs = new PageRunOwner(source);
        var inboxes = new ConcurrentQueue<(BioVec Piece, int Seed, bool IsRun)>[Workers];
        for (int i = 0; i < Workers; i++)
        {
            inboxes[i] = new ConcurrentQueue<(BioVec, int, bool)>();
        }

        long operations = 0;
        long corrupted = 0;
        long bytesChecked = 0;
        using var stop = new CancellationTokenSource(duration);
        var workers = new Task[Workers];
        for (int w = 0; w < Workers; w++)
        {
            int me = w;
            workers[w] = Task.Factory.StartNew(
                () => Work(me, allocator, runs, inboxes, stop.Token, ref operations, ref corrupted, ref bytesChecked),
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }

        var clock = Stopwatch.StartNew();
        long lastOperations = 0;
        TimeSpan lastReport = TimeSpan.Zero;
        Task all = Task.WhenAll(workers);
        while (await Task.WhenAny(all, Task.Delay(ReportEvery)) != all)
        {
            long now = Interlocked.Read(ref operations);
            TimeSpan elapsed = clock.Elapsed;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{elapsed.TotalSeconds,7:F0} s  {(now - lastOperations) / (elapsed - lastReport).TotalSeconds,12:N0} ops/s  " +
                $"mapped {source.BytesMapped / 1024,8:N0} KiB  peak {source.PeakBytesMapped / 1024,8:N0} KiB"));
            lastOperations = now;
            lastReport = elapsed;
        }

        await all;
        for (int i = 0; i < Workers; i++)
        {
            Drain(inboxes[i], ref operations, ref corrupted, ref bytesChecked);
        }

        Assert.Empty(allocator.GetOutstandingFragments());
        allocator.Dispose();
        ZcopyStatistics stats = allocator.GetStatistics();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sample rate {trackingSampleRate}: {operations:N0} operations in {clock.Elapsed.TotalSeconds:F1} s " +
            $"({operations / clock.Elapsed.TotalSeconds:N0}/s), {bytesChecked:N0} bytes checked, {stats.FragmentsAllocated:N0} fragments, " +
            $"{stats.FoliosMapped:N0} folios mapped, {stats.FoliosReusedInPlace:N0} reused in place, peak mapped {source.PeakBytesMapped / 1024:N0} KiB"));
        Assert.Equal(0, Interlocked.Read(ref corrupted));
        Assert.True(operations > 0);
        Assert.Equal(0, stats.LiveFolios);
        Assert.Equal(stats.FoliosMapped, stats.FoliosUnmapped);
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, runs.PendingUnmaps);
    }

    private static void Work(
        int me,
        ZcopyAllocator allocator,
        PageRunOwner runs,
        ConcurrentQueue<(BioVec Piece, int Seed, bool IsRun)>[] inboxes,
        CancellationToken stop,
        ref long operations,
        ref long corrupted,
        ref long bytesChecked)
    {
        var random = new Random(me);
        int seed = me << 24;
        while (!stop.IsCancellationRequested)
        {
            for (int i = 0; i < 64; i++)
            {
                seed++;
                int kind = random.Next(100);
                bool isRun = kind == 0;
                BioVec piece = isRun
                    ? NativePages.Alloc(random.Next(1, 3 * NativePages.OsPageSize), runs)
                    : kind < 50 ? allocator.Alloc(random.Next(1, 2049)) : allocator.MemDup(Pattern(seed, random.Next(1, 257)));
                if (kind < 50)
                {
                    Pattern(seed, piece.Length).CopyTo(piece.AsSpan());
                }

                inboxes[random.Next(inboxes.Length)].Enqueue((piece, seed, isRun));
            }

            Interlocked.Add(ref operations, 64);
            Drain(inboxes[me], ref operations, ref corrupted, ref bytesChecked);
        }
    }

    /// <summary>Checks and releases everything in an inbox, with an extra Get/Put pair on some.</summary>
    private static void Drain(ConcurrentQueue<(BioVec Piece, int Seed, bool IsRun)> inbox, ref long operations, ref long corrupted, ref long bytesChecked)
    {
        long done = 0;
        while (inbox.TryDequeue(out (BioVec Piece, int Seed, bool IsRun) item))
        {
            BioVec piece = item.Piece;
            if (item.Seed % 5 == 0)
            {
                NativePages.Get(piece.Address + piece.Length - 1);
                NativePages.Get(piece);
                NativePages.Put(piece.Address);
                // An empty slice inside the piece; a one-byte piece has no inside, and an empty slice at its start is
                // refused under tracking when a live fragment ends there (README, double release).
                NativePages.Put(piece.Length > 1 ? piece.Slice(piece.Length / 2, 0) : piece);
                done += 4;
            }

            byte[] expected = Pattern(item.Seed, piece.Length);
            if (!piece.AsSpan().SequenceEqual(expected))
            {
                Interlocked.Increment(ref corrupted);
            }

            Interlocked.Add(ref bytesChecked, piece.Length);
            NativePages.Put(piece);
            done++;
        }

        Interlocked.Add(ref operations, done);
    }

    private static byte[] Pattern(int seed, int length)
    {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)((seed * 31) + i);
        }

        return bytes;
    }

    private static TimeSpan? SoakDuration() =>
        double.TryParse(Environment.GetEnvironmentVariable(SoakVariable), NumberStyles.Float, CultureInfo.InvariantCulture, out double minutes) && minutes > 0
            ? TimeSpan.FromMinutes(minutes)
            : null;
}
