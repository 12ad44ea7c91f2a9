using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

public sealed class ZcopyAllocatorConcurrencyTests
{
    /// <summary>
    /// Producers allocate pieces of random sizes, fill them with a pattern derived from a sequence number
    /// and hand them over; consumers check every byte, sometimes take and drop an extra ref, and release.
    /// Folios turn over the whole time (16 KiB folios), so retire, reissue and unmap race with Put.
    /// </summary>
    [Fact]
    public async Task Threads_allocating_while_others_release_leave_no_live_folio_and_every_byte_intact()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, Environment.ProcessorCount);
        const int PiecesPerProducer = 60_000;
        const int Producers = 2;
        using var queue = new BlockingCollection<(BioVec Piece, int Seed)>(boundedCapacity: 4096);
        long corrupted = 0;
        long checkedBytes = 0;

        Task[] producers = new Task[Producers];
        for (int p = 0; p < Producers; p++)
        {
            int producer = p;
            producers[p] = Task.Run(() =>
            {
                var random = new Random(producer);
                for (int i = 0; i < PiecesPerProducer; i++)
                {
                    int seed = (producer * PiecesPerProducer) + i;
                    BioVec piece = allocator.Alloc(random.Next(1, 2049));
                    Fill(piece.AsSpan(), seed);
                    queue.Add((piece, seed));
                }
            });
        }

        Task[] consumers = new Task[2];
        for (int c = 0; c < consumers.Length; c++)
        {
            consumers[c] = Task.Run(() =>
            {
                foreach ((BioVec piece, int seed) in queue.GetConsumingEnumerable())
                {
                    if (seed % 7 == 0)
                    {
                        NativePages.Get(piece.Address);
                        NativePages.Put(piece.Address + piece.Length - 1);
                    }

                    if (!Matches(piece.AsSpan(), seed))
                    {
                        Interlocked.Increment(ref corrupted);
                    }

                    Interlocked.Add(ref checkedBytes, piece.Length);
                    NativePages.Put(piece);
                }
            });
        }

        await Task.WhenAll(producers);
        queue.CompleteAdding();
        await Task.WhenAll(consumers);
        allocator.Dispose();

        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(0, Interlocked.Read(ref corrupted));
        Assert.Equal(Producers * PiecesPerProducer, stats.FragmentsAllocated);
        Assert.Equal(0, stats.LiveFolios);
        Assert.Equal(stats.FoliosMapped, stats.FoliosUnmapped);
        Assert.Equal(0, source.BytesMapped);
        Assert.True(stats.FoliosMapped + stats.FoliosReusedInPlace > 1000, $"folios should turn over: {stats}");
        Trace.WriteLine($"checked {checkedBytes} bytes; {stats}");
    }

    private static void Fill(Span<byte> bytes, int seed)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)((seed * 31) + i);
        }
    }

    private static bool Matches(Span<byte> bytes, int seed)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != (byte)((seed * 31) + i))
            {
                return false;
            }
        }

        return true;
    }
}
