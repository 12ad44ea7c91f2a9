using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Diagnostics;

/// <summary>
/// A tracking allocator records each piece after cutting it, outside the arena's lock; when the record cannot
/// be made (out of memory), the call throws and the piece's reference is given back, so nothing stays mapped.
/// </summary>
public sealed class FragmentRecordFailureTests
{
    private static readonly ZcopyAllocatorOptions s_tracking = new() { FolioSize = 16384, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan };

    [Fact]
    public void An_alloc_whose_record_fails_throws_and_gives_its_reference_back()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(s_tracking, source, processors: 1);
        BioVec kept = allocator.Alloc(64);
        int count = NativePages.RefCount(kept.Page);
        FailRecord(allocator, number: 1);
        Assert.Throws<InsufficientMemoryException>(() => allocator.Alloc(100));
        FailRecord(allocator, number: 1);
        Assert.Throws<InsufficientMemoryException>(() => allocator.MemDup(new byte[100]));

        // A cut moves a reference from the arena's share to the piece; each failed piece gave its own back.
        Assert.Equal(count - 2, NativePages.RefCount(kept.Page));
        Assert.Equal(kept, Assert.Single(allocator.GetOutstandingFragments()).Fragment);
        NativePages.Put(kept);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(6)]
    public void An_alloc_batch_whose_record_fails_throws_and_loses_no_piece(int failing)
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(s_tracking, source, processors: 1);
        BioVec kept = allocator.Alloc(64);
        int count = NativePages.RefCount(kept.Page);
        FailRecord(allocator, failing);
        int[] sizes = Enumerable.Repeat(300, 6).ToArray();
        var pieces = new BioVec[8];
        pieces[7] = kept; // a slot past the batch is the caller's and is left alone

        Assert.Throws<InsufficientMemoryException>(() => allocator.AllocBatch(sizes, pieces));

        Assert.Equal(count - 6, NativePages.RefCount(kept.Page)); // every piece's reference given back
        Assert.Equal(kept, Assert.Single(allocator.GetOutstandingFragments()).Fragment);

        // Every slot of the batch is cleared, those of a run whose pieces gave their references back before the
        // batch counted them included: a released piece left in a slot looks live while its folio is, and a
        // caller cleaning up with PutBatch would release it a second time (a mutation test found them kept).
        Assert.All(pieces[..6], piece => Assert.True(piece.IsEmpty, $"a slot still holds {piece} after the batch failed"));
        Assert.Equal(kept, pieces[7]);
        Assert.Equal(6, allocator.AllocBatch(sizes, pieces.AsSpan(0, 6))); // the tracker still works
        NativePages.PutBatch(pieces.AsSpan(0, 6));
        NativePages.Put(kept);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_record_failing_on_a_fresh_folio_leaves_the_folio_to_the_arena()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(s_tracking, source, processors: 1);
        FailRecord(allocator, number: 1);

        Assert.Throws<InsufficientMemoryException>(() => allocator.Alloc(8192)); // the first piece maps the first folio
        Assert.Equal(1, source.Maps);

        BioVec piece = allocator.Alloc(8192); // the folio's other half: the failed piece's bytes are skipped
        Assert.Equal(1, source.Maps);
        NativePages.Put(piece);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void The_allocation_stack_starts_in_the_allocator_whichever_arena_path_cut_the_piece()
    {
        using var allocator = new ZcopyAllocator(s_tracking, PageSource.Os, processors: 1);
        var batch = new BioVec[3];
        BioVec first = allocator.Alloc(100); // maps the first folio: the arena's slow path
        BioVec second = allocator.Alloc(100); // the arena's fast path
        BioVec copy = allocator.MemDup(new byte[100]);
        allocator.AllocBatch([300, 300, 300], batch); // a run under one lock

        // Every piece is listed, once: checks made per listed fragment alone would pass on an empty list.
        BioVec[] pieces = [first, second, copy, .. batch];
        IReadOnlyList<OutstandingFragment> outstanding = allocator.GetOutstandingFragments();
        Assert.Equal(pieces.OrderBy(p => p.Address), outstanding.Select(o => o.Fragment).OrderBy(p => p.Address));

        // Each stack starts in the allocator (no arena frame above it), in the public method that cut the piece
        // or its out-of-line part (AllocSlow, MemDupSlow, AllocBatchSlow: which is on top depends on inlining;
        // with tiered compilation off AllocBatch itself is inlined into this test), and its first frame outside
        // the allocator is the caller, this test.
        string[] entries = ["Alloc", "Alloc", "MemDup", "AllocBatch", "AllocBatch", "AllocBatch"];
        for (int i = 0; i < pieces.Length; i++)
        {
            string stack = outstanding.Single(o => o.Fragment == pieces[i]).AllocationStackTrace;
            string[] frames = stack.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string[] inAllocator = frames.TakeWhile(f => f.Contains("ZcopyAllocator.", StringComparison.Ordinal)).ToArray();
            Assert.NotEmpty(inAllocator);
            Assert.DoesNotContain("Arena", frames[0], StringComparison.Ordinal);
            Assert.Contains(inAllocator, f => f.Contains($"ZcopyAllocator.{entries[i]}", StringComparison.Ordinal));
            Assert.Contains(nameof(The_allocation_stack_starts_in_the_allocator_whichever_arena_path_cut_the_piece), frames[inAllocator.Length], StringComparison.Ordinal);
        }

        NativePages.PutBatch(pieces);
    }

    /// <summary>Makes the <paramref name="number"/>-th record from now fail once, as an out-of-memory would (InsufficientMemoryException: the runtime keeps OutOfMemoryException to itself).</summary>
    private static void FailRecord(ZcopyAllocator allocator, int number)
    {
        int calls = 0;
        allocator.Owner.Tracker!.BeforeRecordForTests = _ =>
        {
            if (++calls == number)
            {
                throw new InsufficientMemoryException($"injected: record {number} of this test");
            }
        };
    }
}
