using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO.Pipelines;
using System.Threading.Tasks;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Memory;

/// <summary>
/// An OS refusal to unmap a folio must not surface from <see cref="IDisposable.Dispose"/> of the
/// owner whose release was the folio's last: a consumer that disposes several owners in a loop (a Pipe
/// returning its consumed segments) would stop at the throw, and every owner after it would never be
/// disposed, their references and folios leaked for good (found by a review in session 10).
/// </summary>
public sealed class ZcopyMemoryOwnerDisposeFaultTests
{
    [Fact]
    public async Task A_refused_unmap_during_a_pipes_segment_return_leaks_no_other_segment()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, ThreadCache = false, RetainedFoliosPerArena = 0 }, source, processors: 1);
        var pool = new ZcopyMemoryPool(allocator);
        var pipe = new Pipe(new PipeOptions(pool: pool, minimumSegmentSize: 2048, pauseWriterThreshold: 0, useSynchronizationContext: false));

        // Ten full 2 KiB segments: two per folio, five folios, each retired by the arena as it fills.
        for (int i = 0; i < 10; i++)
        {
            Memory<byte> memory = pipe.Writer.GetMemory(2048);
            memory.Span[..2048].Fill((byte)i);
            pipe.Writer.Advance(2048);
        }

        await pipe.Writer.FlushAsync();
        ReadResult read = await pipe.Reader.ReadAsync();
        Assert.Equal(10 * 2048, read.Buffer.Length);

        // The OS refuses unmaps while the reader consumes everything: the pipe disposes every segment.
        source.FailUnmaps = true;
        Exception? thrown = Record.Exception(() => pipe.Reader.AdvanceTo(read.Buffer.End));
        source.FailUnmaps = false;

        await pipe.Writer.CompleteAsync();
        await pipe.Reader.CompleteAsync();
        allocator.Dispose();
        allocator.Dispose(); // retries the refused unmaps, now that the OS takes pages back

        Assert.True(
            source.BytesMapped == 0,
            $"{source.BytesMapped} bytes of folios stay mapped for good after a refused unmap surfaced from an owner's Dispose ({thrown?.GetType().Name}: {thrown?.Message})");
        pool.Dispose();
    }

    [Fact]
    public void Disposing_owners_in_a_loop_gives_every_reference_back_though_the_os_refused_an_unmap()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, ThreadCache = false, RetainedFoliosPerArena = 0 }, source, processors: 1);
        var owners = new List<IMemoryOwner<byte>>();
        for (int i = 0; i < 10; i++)
        {
            owners.Add(new ZcopyMemoryOwner(allocator.Alloc(2048)));
        }

        source.FailUnmaps = true;
        foreach (IMemoryOwner<byte> owner in owners)
        {
            owner.Dispose(); // IDisposable.Dispose must not throw (CA1065); the refused unmap is retried anyway
        }

        source.FailUnmaps = false;
        allocator.Dispose();
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }
}
