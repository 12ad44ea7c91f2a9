using System;
using System.Buffers;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using NativeZcopy.Net;

namespace NativeZcopy.Bench;

/// <summary>
/// Issue 5's benchmark: messages of a 64 B header + payload + 16 B trailer over loopback TCP, sent one
/// after another to a reader thread that drains the socket as fast as it can. Four ways to send each:
/// (a) copy all three into one ArrayPool buffer and Socket.SendAsync it (the baseline), (b) Socket.SendAsync
/// over three pooled-array segments, and NativeZcopy's gather-send with and without MSG_ZEROCOPY. The
/// payload already lies in memory of the sender's kind (a managed array for a and b, a native page run
/// for NativeZcopy), as it would after being read from storage; the header and trailer are written per
/// message. Loopback copies even ZeroCopy sends (the kernel reports it), so ZeroCopy cannot pay here; the
/// 256 KiB point shows what it costs.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 12)]
public class SocketSendBenchmarks
{
    /// <summary>Messages per benchmark invocation: enough to amortize the Task machinery of one call.</summary>
    private const int Messages = 64;

    private const int HeaderSize = 64;
    private const int TrailerSize = 16;

    private readonly byte[] _headerTemplate = new byte[HeaderSize];
    private readonly byte[] _trailerTemplate = new byte[TrailerSize];
    private readonly List<ArraySegment<byte>> _segments = [default, default, default];
    private Socket _sender = null!;
    private Socket _receiver = null!;
    private Thread _reader = null!;
    private byte[] _payloadArray = null!;
    private BioVec _payloadRun;
    private ZcopyAllocator _allocator = null!;
    private long _messagesSent;
    private TimeSpan _cpu;

    [Params(16 * 1024, 256 * 1024)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        _sender = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _sender.Connect(listener.LocalEndPoint!);
        _receiver = listener.Accept();
        _reader = new Thread(Drain) { IsBackground = true, Name = "loopback reader" };
        _reader.Start();

        new Random(1).NextBytes(_headerTemplate);
        new Random(2).NextBytes(_trailerTemplate);
        _payloadArray = new byte[PayloadSize];
        new Random(3).NextBytes(_payloadArray);
        _payloadRun = NativePages.Alloc(PayloadSize);
        _payloadArray.CopyTo(_payloadRun.AsSpan());
        _allocator = new ZcopyAllocator();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Process CPU (user + kernel, sender and reader thread) spent inside the benchmark calls, per
        // message: the loopback receive costs every method the same, so the figures compare, though none
        // is a pure per-send cost.
        double cpu = _cpu.TotalMicroseconds / Math.Max(1, _messagesSent);
        Console.WriteLine($"// CPU per message: {cpu:F2} us over {_messagesSent} messages; {_sender.GetZcopyStatistics()}");

        for (int i = 0; i < 2000 && _sender.GetZcopyStatistics().PendingMessages > 0; i++)
        {
            Thread.Sleep(5);
        }

        _sender.Shutdown(SocketShutdown.Send);
        _reader.Join();
        _sender.Dispose();
        _receiver.Dispose();
        NativePages.Put(_payloadRun);
        _allocator.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages, Description = "(a) copy into one ArrayPool buffer + SendAsync")]
    public async Task CopyIntoPooledBuffer()
    {
        TimeSpan cpu = Environment.CpuUsage.TotalTime;
        int total = HeaderSize + PayloadSize + TrailerSize;
        for (int i = 0; i < Messages; i++)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
            _headerTemplate.CopyTo(buffer, 0);
            _payloadArray.CopyTo(buffer, HeaderSize);
            _trailerTemplate.CopyTo(buffer, HeaderSize + PayloadSize);
            await _sender.SendAsync(buffer.AsMemory(0, total), SocketFlags.None).ConfigureAwait(false);
            ArrayPool<byte>.Shared.Return(buffer);
        }

        Count(cpu);
    }

    [Benchmark(OperationsPerInvoke = Messages, Description = "(b) SendAsync(IList<ArraySegment>) pooled arrays")]
    public async Task GatherPooledArrays()
    {
        TimeSpan cpu = Environment.CpuUsage.TotalTime;
        for (int i = 0; i < Messages; i++)
        {
            byte[] header = ArrayPool<byte>.Shared.Rent(HeaderSize);
            byte[] trailer = ArrayPool<byte>.Shared.Rent(TrailerSize);
            _headerTemplate.CopyTo(header, 0);
            _trailerTemplate.CopyTo(trailer, 0);
            _segments[0] = new ArraySegment<byte>(header, 0, HeaderSize);
            _segments[1] = new ArraySegment<byte>(_payloadArray);
            _segments[2] = new ArraySegment<byte>(trailer, 0, TrailerSize);
            await _sender.SendAsync(_segments, SocketFlags.None).ConfigureAwait(false);
            ArrayPool<byte>.Shared.Return(header);
            ArrayPool<byte>.Shared.Return(trailer);
        }

        Count(cpu);
    }

    [Benchmark(OperationsPerInvoke = Messages, Description = "NativeZcopy gather-send")]
    public Task NativeZcopyGather() => SendNativeAsync(ZcopySendFlags.None);

    [Benchmark(OperationsPerInvoke = Messages, Description = "NativeZcopy gather-send, ZeroCopy")]
    public Task NativeZcopyZeroCopy() => SendNativeAsync(ZcopySendFlags.ZeroCopy);

    private async Task SendNativeAsync(ZcopySendFlags flags)
    {
        TimeSpan cpu = Environment.CpuUsage.TotalTime;
        for (int i = 0; i < Messages; i++)
        {
            var message = new ZcopyMessage(_allocator);
            BioVec header = _allocator.Alloc(HeaderSize);
            _headerTemplate.CopyTo(header.AsSpan());
            message.Add(header);
            message.AddRef(_payloadRun);
            BioVec trailer = _allocator.Alloc(TrailerSize);
            _trailerTemplate.CopyTo(trailer.AsSpan());
            message.Add(trailer);
            await _sender.SendZcopyAsync(message, flags).ConfigureAwait(false);
        }

        Count(cpu);
    }

    /// <summary>Adds one invocation's messages and process CPU to the totals the cleanup prints.</summary>
    private void Count(TimeSpan cpuAtStart)
    {
        _cpu += Environment.CpuUsage.TotalTime - cpuAtStart;
        _messagesSent += Messages;
    }

    /// <summary>The peer: reads and discards until the sender shuts down.</summary>
    private void Drain()
    {
        byte[] buffer = new byte[1 << 20];
        try
        {
            while (_receiver.Receive(buffer) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // The pair is being torn down.
        }
        catch (ObjectDisposedException)
        {
            // The pair is being torn down.
        }
    }
}
