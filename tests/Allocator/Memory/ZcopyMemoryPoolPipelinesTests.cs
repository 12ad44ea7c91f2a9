using System;
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Metrics;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Memory;

/// <summary>
/// System.IO.Pipelines over NativeZcopy memory end to end: a stream pipe writer sends over a real loopback
/// TCP connection, a <see cref="Pipe"/> fed from the receiving <see cref="NetworkStream"/> hands the bytes
/// to a reader, and every buffer on both sides is rented from one <see cref="ZcopyMemoryPool"/>.
/// </summary>
public sealed class ZcopyMemoryPoolPipelinesTests
{
    /// <summary>Tens of MB, in chunks of varying size so that segments fill unevenly.</summary>
    private const int TotalBytes = 48 * 1024 * 1024;

    [Fact]
    public async Task A_pipe_and_a_loopback_network_stream_move_tens_of_MB_byte_exact_and_give_every_buffer_back()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = nameof(ZcopyMemoryPoolPipelinesTests) });
        using var pool = new ZcopyMemoryPool(allocator);

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, cancel.Token);
        using TcpClient server = await listener.AcceptTcpClientAsync(cancel.Token);

        // Receiving segments of 64 KiB are above the allocator's largest piece, so the receiving side runs on
        // page runs; the sender's 4 KiB buffers are folio pieces. Both paths carry the data.
        var pipe = new Pipe(new PipeOptions(pool: pool, minimumSegmentSize: 64 * 1024, useSynchronizationContext: false));
        Task<(byte[] Hash, long Bytes)> send = SendAsync(client.GetStream(), pool, cancel.Token);
        Task fill = FillAsync(server.GetStream(), pipe.Writer, cancel.Token);
        Task<(byte[] Hash, long Bytes, int Pieces, int Runs)> read = ReadAsync(pipe.Reader, allocator.MaxFragmentSize, cancel.Token);

        (byte[] sentHash, long sent) = await send;
        await fill;
        (byte[] receivedHash, long received, int pieces, int runs) = await read;

        Assert.Equal(TotalBytes, sent);
        Assert.Equal(TotalBytes, received);
        Assert.Equal(Convert.ToHexString(sentHash), Convert.ToHexString(receivedHash));
        Assert.True(runs > 0, "no received segment was a page run");
        Assert.Equal(0, pieces);
        Assert.True(allocator.GetStatistics().FragmentsAllocated > 0, "the sender rented no pieces");

        // Every buffer went back: no page run of this pool is left, and once the arenas let go of their
        // current folios, no folio of this allocator is either.
        Assert.Equal(0, allocator.PoolRuns.BytesMapped);
        allocator.Dispose();
        ZcopyStatistics statistics = allocator.GetStatistics();
        Assert.Equal(0, statistics.LiveFolios);
        Assert.True(statistics.FoliosMapped > 0);
    }

    /// <summary>Writes <see cref="TotalBytes"/> of a deterministic pattern through a stream pipe writer over the pool.</summary>
    private static async Task<(byte[] Hash, long Bytes)> SendAsync(NetworkStream stream, MemoryPool<byte> pool, CancellationToken cancel)
    {
        PipeWriter writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(pool, minimumBufferSize: 4096, leaveOpen: true));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(20261126);
        long sent = 0;
        while (sent < TotalBytes)
        {
            int chunk = (int)Math.Min(random.Next(1, 20_000), TotalBytes - sent);
            Memory<byte> memory = writer.GetMemory(chunk);
            Assert.True(MemoryMarshal.TryGetMemoryManager<byte, ZcopyMemoryOwner>(memory, out _), "the writer's buffer is not NativeZcopy memory");
            Span<byte> span = memory.Span[..chunk];
            random.NextBytes(span);
            hash.AppendData(span);
            writer.Advance(chunk);
            sent += chunk;
            FlushResult flushed = await writer.FlushAsync(cancel);
            Assert.False(flushed.IsCanceled);
        }

        await writer.CompleteAsync();
        stream.Socket.Shutdown(SocketShutdown.Send);
        return (hash.GetHashAndReset(), sent);
    }

    /// <summary>Reads the network stream straight into the pipe's (native) buffers until the peer is done.</summary>
    private static async Task FillAsync(NetworkStream stream, PipeWriter writer, CancellationToken cancel)
    {
        while (true)
        {
            Memory<byte> memory = writer.GetMemory();
            int read = await stream.ReadAsync(memory, cancel);
            if (read == 0)
            {
                break;
            }

            writer.Advance(read);
            FlushResult flushed = await writer.FlushAsync(cancel);
            if (flushed.IsCompleted)
            {
                break;
            }
        }

        await writer.CompleteAsync();
    }

    /// <summary>Hashes what the pipe delivers, and counts what kind of NativeZcopy memory each segment is.</summary>
    private static async Task<(byte[] Hash, long Bytes, int Pieces, int Runs)> ReadAsync(PipeReader reader, int maxFragmentSize, CancellationToken cancel)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long received = 0;
        int pieces = 0;
        int runs = 0;
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancel);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                if (segment.IsEmpty)
                {
                    continue;
                }

                Assert.True(MemoryMarshal.TryGetMemoryManager<byte, ZcopyMemoryOwner>(segment, out ZcopyMemoryOwner? owner), "a segment is not NativeZcopy memory");
                if (owner!.Length > maxFragmentSize)
                {
                    runs++;
                }
                else
                {
                    pieces++;
                }

                hash.AppendData(segment.Span);
                received += segment.Length;
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await reader.CompleteAsync();
        return (hash.GetHashAndReset(), received, pieces, runs);
    }
}
