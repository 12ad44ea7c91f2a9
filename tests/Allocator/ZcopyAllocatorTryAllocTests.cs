using System;
using System.Collections.Generic;
using NativeZcopy.ThreadCache;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

/// <summary>TryAlloc against Alloc: the same pieces from the same places, false where Alloc throws.</summary>
/// <remarks>Reads the thread's slice, which another test's Trim may revoke for a moment: runs alone.</remarks>
[Collection(DeferredReleaseReaders.Name)]
public sealed class ZcopyAllocatorTryAllocTests
{
    [Fact]
    public void A_thread_that_only_calls_TryAlloc_cuts_from_a_slice_of_its_own_and_gets_false_once_no_folio_can_be_mapped()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096 }, source, processors: 1);
        var pieces = new List<BioVec>();
        using (var thread = new DedicatedThread())
        {
            thread.Run(() =>
            {
                Assert.True(allocator.TryAlloc(128, out BioVec first));
                pieces.Add(first);
                Assert.Same(allocator, ThreadSlice.Current?.Allocator);
                int count = NativePages.RefCount(first.Page);
                Assert.True(allocator.TryAlloc(128, out BioVec second));
                pieces.Add(second);
                Assert.Equal(2, ThreadSlice.Current!.PiecesCut);
                Assert.Equal(first.Address + 128, second.Address);
                Assert.Equal(count, NativePages.RefCount(first.Page));     // cut from the slice's share

                // No more folios: the slice's folio runs out, and the next TryAlloc answers false, no throw.
                source.FailAllMaps = true;
                while (allocator.TryAlloc(1024, out BioVec piece))
                {
                    pieces.Add(piece);
                    Assert.InRange(pieces.Count, 3, 6);                     // one 4 KiB folio's worth at most
                }

                NativePages.PutBatch(pieces.ToArray());
            });
        }

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    /// <summary>
    /// A folio the OS mapped but the side table cannot register (here: above the address space it covers) is an
    /// out-of-memory failure for Alloc, so TryAlloc answers false for it, whether the piece is cut from a thread
    /// slice or, past the largest sliced size, straight from the arena.
    /// </summary>
    [Theory]
    [InlineData(100)]
    [InlineData(20_000)]
    public void TryAlloc_answers_false_when_a_mapped_folio_cannot_be_registered(int size)
    {
        var source = new FaultInjectingPageSource { MapAboveAddressSpace = true };
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions(), source, processors: 1);
        using (var thread = new DedicatedThread())
        {
            thread.Run(() =>
            {
                Assert.False(allocator.TryAlloc(size, out BioVec piece));
                Assert.True(piece.IsEmpty);
                Assert.Throws<OutOfMemoryException>(() => allocator.Alloc(size));
            });
        }

        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    /// <summary>
    /// TryAlloc answers true with a live piece of the size asked on every path a piece can take (a thread slice,
    /// the arena past the largest sliced size, the arena with the thread cache off or with tracking on), and
    /// once the allocator is disposed throws for a valid size on each of them while still answering false for
    /// a bad one. Its fast path is the slice's cut inlined and its slow path returns an empty piece for "no",
    /// so a mix-up of the two answers shows on one path only.
    /// </summary>
    [Theory]
    [InlineData(100, true, false)]
    [InlineData(20_000, true, false)]
    [InlineData(100, false, false)]
    [InlineData(100, true, true)]
    public void TryAlloc_answers_true_with_a_live_piece_on_every_path_and_throws_once_disposed(int size, bool threadCache, bool track)
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { ThreadCache = threadCache, TrackFragments = track });
        using (var thread = new DedicatedThread())
        {
            thread.Run(() =>
            {
                for (int i = 0; i < 3; i++)
                {
                    Assert.True(allocator.TryAlloc(size, out BioVec piece));
                    Assert.False(piece.IsEmpty);
                    Assert.Equal(size, piece.Length);
                    Assert.True(NativePages.IsLive(piece));
                    piece.AsSpan().Fill(0x5A);
                    NativePages.Put(piece);
                }
            });

            allocator.Dispose();
            thread.Run(() =>
            {
                Assert.Throws<ObjectDisposedException>(() => allocator.TryAlloc(size, out _));
                Assert.False(allocator.TryAlloc(0, out BioVec refused));
                Assert.True(refused.IsEmpty);
            });
        }

        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }
}
