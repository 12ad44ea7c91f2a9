using System;
using NativeZcopy.Native;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

/// <remarks>
/// These tests read folio counts that a slice's take-backs keep unchanged; a Trim or Dispose running in
/// another test revokes the slice for a moment, and a release made meanwhile goes to the shared count instead
/// (allowed, and one reference off in the count read after it: seen once in 6 suite runs), so they run alone.
/// </remarks>
[Collection(DeferredReleaseReaders.Name)]
public sealed class ZcopyAllocatorBatchTests
{
    [Fact]
    public void With_the_thread_cache_small_pieces_come_from_the_slice_side_by_side_and_go_back_together() =>
        OnOneThreadThenNothingMapped((allocator, _) =>
        {
            int[] sizes = [64, 100, 16, 4000];
            var pieces = new BioVec[sizes.Length];
            Assert.Equal(sizes.Length, allocator.AllocBatch(sizes, pieces));
            Assert.Equal(pieces[0].Page, pieces[2].Page);
            Assert.Equal(pieces[0].Offset + 64, pieces[1].Offset);     // cut in order from one slice
            Assert.Equal(pieces[1].Offset + 104, pieces[2].Offset);
            int count = NativePages.RefCount(pieces[0].Page);
            NativePages.PutBatch(pieces.AsSpan(0, 3));                  // taken back: the shared count stays
            Assert.Equal(count, NativePages.RefCount(pieces[0].Page));
            NativePages.Put(pieces[3]);                                 // 4000 B: from the arena
        });

    [Fact]
    public void On_a_thread_with_a_slice_a_message_is_cut_in_one_run_and_taken_back_in_one_run() =>
        OnOneThreadThenNothingMapped((allocator, _) =>
        {
            BioVec first = allocator.Alloc(8);                         // installs the thread's slice
            int count = NativePages.RefCount(first.Page);
            var pieces = new BioVec[3];

            Assert.Equal(3, allocator.AllocBatch([64, 16, 8], pieces));

            Assert.Equal(first.Page, pieces[0].Page);
            Assert.Equal(first.Offset + 8, pieces[0].Offset);         // cut in order after the first piece
            Assert.Equal(pieces[0].Offset + 64, pieces[1].Offset);
            Assert.Equal(pieces[1].Offset + 16, pieces[2].Offset);
            Assert.Equal(count, NativePages.RefCount(first.Page));     // from the slice's share, not the count
            Assert.Equal(4, allocator.GetStatistics().FragmentsAllocated);
            NativePages.PutBatch(pieces);
            Assert.Equal(count, NativePages.RefCount(first.Page));     // taken back into the share
            NativePages.Put(first);
        });

    [Fact]
    public void A_batch_larger_than_what_is_left_of_the_slice_goes_on_with_a_new_slice() =>
        OnOneThreadThenNothingMapped((allocator, _) =>
        {
            BioVec first = allocator.Alloc(8);                         // an 8 KiB first slice: three 2 KiB pieces fit after it
            int[] sizes = [2048, 2048, 2048, 2048, 2048];
            var pieces = new BioVec[sizes.Length];

            Assert.Equal(sizes.Length, allocator.AllocBatch(sizes, pieces));

            for (int i = 0; i < sizes.Length; i++)
            {
                Assert.Equal(2048, pieces[i].Length);
                pieces[i].AsSpan().Fill((byte)(i + 1));
            }

            Assert.Equal(first.Offset + 8 + (2 * 2048), pieces[2].Offset);
            Assert.NotEqual(pieces[2].Offset + 2048, pieces[3].Offset); // the fourth did not fit: a new slice
            for (int i = 0; i < sizes.Length; i++)
            {
                Assert.True(pieces[i].AsSpan().IndexOfAnyExcept((byte)(i + 1)) < 0, $"piece {i} overlaps another");
            }

            NativePages.PutBatch(pieces);
            NativePages.Put(first);
        });

    [Fact]
    public void A_batch_that_fills_the_slice_exactly_is_cut_from_it_to_the_last_byte() =>
        OnOneThreadThenNothingMapped((allocator, _) =>
        {
            BioVec first = allocator.Alloc(8);                         // an 8 KiB first slice
            int count = NativePages.RefCount(first.Page);
            int[] sizes = [2048, 2048, 2048, 2040];                     // with the first piece: 8,192 bytes
            var pieces = new BioVec[sizes.Length];

            Assert.Equal(sizes.Length, allocator.AllocBatch(sizes, pieces));

            int offset = first.Offset + 8;
            for (int i = 0; i < sizes.Length; i++)
            {
                Assert.Equal(first.Page, pieces[i].Page);
                Assert.Equal(offset, pieces[i].Offset);
                offset += sizes[i];
            }

            Assert.Equal(count, NativePages.RefCount(first.Page));     // all from the slice's share
            NativePages.PutBatch(pieces);
            NativePages.Put(first);
        });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_batch_of_another_allocator_takes_nothing_from_this_threads_slice(bool otherHasThreadCache) =>
        OnOneThreadThenNothingMapped((allocator, source) =>
        {
            using var other = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = otherHasThreadCache }, source, processors: 1);
            BioVec first = allocator.Alloc(8);                         // this thread's slice is the first allocator's
            int count = NativePages.RefCount(first.Page);
            var pieces = new BioVec[2];

            Assert.Equal(2, other.AllocBatch([16, 16], pieces));

            Assert.NotEqual(first.Page, pieces[0].Page);
            Assert.NotEqual(first.Page, pieces[1].Page);
            Assert.Equal(count, NativePages.RefCount(first.Page));
            NativePages.PutBatch(pieces);
            NativePages.Put(first);
        });

    [Fact]
    public void PutBatch_takes_back_the_slices_leading_pieces_and_releases_the_rest_as_before() =>
        OnOneThreadThenNothingMapped((allocator, source) =>
        {
            using var other = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false }, source, processors: 1);
            BioVec run = NativePages.Alloc(100);
            BioVec first = allocator.Alloc(8);
            var mine = new BioVec[3];
            allocator.AllocBatch([32, 32, 32], mine);
            BioVec foreign = other.Alloc(64);
            int count = NativePages.RefCount(first.Page);
            int foreignCount = NativePages.RefCount(foreign.Page);

            NativePages.PutBatch([mine[0], mine[1], run, foreign, mine[2]]);

            Assert.Equal(count, NativePages.RefCount(first.Page));      // all three back in the share
            Assert.Equal(foreignCount - 1, NativePages.RefCount(foreign.Page));
            Assert.False(NativePages.IsCurrent(run));
            NativePages.Put(first);
        });

    [Fact]
    public void AllocBatch_that_fails_after_cutting_from_the_slice_gives_those_pieces_back()
    {
        // 4 KiB folios: a 2 KiB slice and a 1500 B piece fill the first; the batch's 2 KiB piece needs a
        // second folio, whose map fails after the two 64 B pieces were cut from the slice in one run.
        var source = new FaultInjectingPageSource { FailMapNumber = 2 };
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096 }, source, processors: 1);
        using (var thread = new DedicatedThread())
        {
            thread.Run(() =>
            {
                BioVec first = allocator.Alloc(8);
                BioVec held = allocator.Alloc(1500);
                var pieces = new BioVec[3];

                Assert.Throws<OutOfMemoryException>(() => allocator.AllocBatch([64, 64, 2048], pieces));

                // The two 64 B pieces went back to the slice's share (Dispose below leaves a folio mapped while
                // any piece still holds it), and the slice moved on past them.
                BioVec next = allocator.Alloc(8);
                Assert.Equal(first.Offset + 8 + 128, next.Offset);          // and nothing is cut twice
                NativePages.Put(next);
                NativePages.Put(first);
                NativePages.Put(held);
            });
        }

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void PutBatch_after_taking_back_slice_pieces_still_reports_a_stale_one() =>
        OnOneThreadThenNothingMapped((allocator, _) =>
        {
            BioVec gone = NativePages.Alloc(100);
            NativePages.Put(gone);
            var mine = new BioVec[2];
            allocator.AllocBatch([16, 16], mine);
            int count = NativePages.RefCount(mine[0].Page);

            var error = Assert.Throws<InvalidOperationException>(() => NativePages.PutBatch([mine[0], mine[1], gone]));

            Assert.Contains(gone.ToString(), error.Message, StringComparison.Ordinal);
            Assert.Equal(count, NativePages.RefCount(mine[0].Page));       // both taken back all the same
        });

    [Fact]
    public void AllocBatch_cuts_every_size_in_order_across_folio_boundaries()
    {
        var source = new FaultInjectingPageSource();
        // Arena carving alone: with the thread cache, the leading 64 B piece would come from the thread's slice.
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096, ThreadCache = false }, source, processors: 1);
        int[] sizes = [64, 1000, 2000, 13, 1500, 1500, 1500, 8];
        var pieces = new BioVec[sizes.Length + 2];

        Assert.Equal(sizes.Length, allocator.AllocBatch(sizes, pieces));

        for (int i = 0; i < sizes.Length; i++)
        {
            Assert.Equal(sizes[i], pieces[i].Length);
            Assert.Equal(0, pieces[i].Address % 8);
            pieces[i].AsSpan().Fill((byte)(i + 1));
        }

        Assert.Equal(pieces[0].Page, pieces[2].Page);     // 64 + 1000 + 2000 fit one 4 KiB folio
        Assert.NotEqual(pieces[0].Page, pieces[4].Page);
        for (int i = 0; i < sizes.Length; i++)
        {
            Assert.True(pieces[i].AsSpan().IndexOfAnyExcept((byte)(i + 1)) < 0, $"piece {i} overlaps another");
        }

        Assert.True(pieces[sizes.Length].IsEmpty);
        Assert.Equal(sizes.Length, allocator.GetStatistics().FragmentsAllocated);
        NativePages.PutBatch(pieces.AsSpan(0, sizes.Length));
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void AllocBatch_refuses_bad_arguments_before_allocating_anything()
    {
        using var allocator = new ZcopyAllocator();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => allocator.AllocBatch([8, 16, 0, 4], new BioVec[4]));
        Assert.Contains("sizes[2] = 0", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => allocator.AllocBatch([40000], new BioVec[1]));
        Assert.Throws<ArgumentException>(() => allocator.AllocBatch([8, 8, 8], new BioVec[2]));
        Assert.Equal(0, allocator.GetStatistics().FragmentsAllocated);
        Assert.Equal(0, allocator.AllocBatch([], []));
    }

    [Fact]
    public void AllocBatch_that_runs_out_of_memory_midway_releases_what_it_cut_and_clears_its_slots()
    {
        var source = new FaultInjectingPageSource { FailMapNumber = 2 };
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096 }, source, processors: 1);
        var pieces = new BioVec[6];

        Assert.Throws<OutOfMemoryException>(() => allocator.AllocBatch([2000, 2000, 2000, 2000, 2000, 2000], pieces));

        // The pieces cut before the failure were released: left in the span they would still look live while
        // their folio is, and a caller cleaning up with PutBatch would release them a second time.
        Assert.True(allocator.GetStatistics().FragmentsAllocated >= 1, "the failure came after a piece was cut");
        Assert.All(pieces, piece => Assert.True(piece.IsEmpty, $"{piece} left in the span"));

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AllocBatch_that_runs_out_of_memory_reports_that_even_when_giving_back_a_folio_is_refused(bool threadCache)
    {
        // 4 KiB folios: two 2000 B pieces fill the first, the arena moves to the second (the first is then held
        // by the batch alone) and the third map fails. Giving the batch back drops the first folio's last
        // references, and its unmap is refused: the folio is kept for a retry, so the caller must still hear
        // of the map that failed, not of the unmap.
        var source = new FaultInjectingPageSource { FailMapNumber = 3, FailUnmaps = true };
        var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, ThreadCache = threadCache }, source, processors: 1);
        var pieces = new BioVec[6];

        var error = Assert.Throws<OutOfMemoryException>(() => allocator.AllocBatch([2000, 2000, 2000, 2000, 2000, 2000], pieces));

        Assert.Contains(source.DescribeError(FaultInjectingPageSource.InjectedError), error.Message, StringComparison.Ordinal);
        Assert.Equal(2 * 4096, source.BytesMapped);         // the refused folio is still there, for the retry
        source.FailUnmaps = false;
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void PutBatch_reports_a_stale_piece_ahead_of_a_refused_unmap_met_before_it()
    {
        // A caller that lets refused unmaps go (a send's completion, a dispose) must still hear of the misuse.
        var source = new FaultInjectingPageSource();
        ZcopyAllocator allocator = LastReferenceOfAFolio.NewAllocator(source);
        BioVec last = LastReferenceOfAFolio.Cut(allocator, fill: 1);
        BioVec gone = NativePages.Alloc(100);
        NativePages.Put(gone);
        source.FailUnmaps = true;

        var error = Assert.Throws<InvalidOperationException>(() => NativePages.PutBatch([last, gone]));

        Assert.Contains(gone.ToString(), error.Message, StringComparison.Ordinal);
        Assert.False(PageRunOwner.IsUnmapRefusal(error));
        Assert.Equal(0, NativePages.RefCount(last.Page));          // released all the same
        source.FailUnmaps = false;
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void PutBatch_drops_one_ref_per_piece_grouping_neighbours_of_a_page()
    {
        // Shared counts, read exactly: pieces from the arena, not from a thread slice (tested above).
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { ThreadCache = false }, PageSource.Os, processors: 1);
        BioVec run = NativePages.Alloc(8192);
        NativePages.Get(run);
        var pieces = new BioVec[5];
        allocator.AllocBatch([10, 20, 30, 40, 50], pieces);
        int before = NativePages.RefCount(pieces[0].Page);

        NativePages.PutBatch([pieces[0], pieces[1], run, pieces[2], run]);

        Assert.Equal(before - 3, NativePages.RefCount(pieces[0].Page));
        Assert.False(NativePages.IsCurrent(run));   // this life of the page is gone (the address may be reused)
        NativePages.PutBatch(pieces.AsSpan(3));
        Assert.Equal(before - 5, NativePages.RefCount(pieces[0].Page));
    }

    [Fact]
    public void PutBatch_releases_every_valid_piece_then_reports_the_first_bad_one()
    {
        BioVec a = NativePages.Alloc(100);
        BioVec b = NativePages.Alloc(100);
        BioVec gone = NativePages.Alloc(100);
        NativePages.Put(gone);

        var error = Assert.Throws<InvalidOperationException>(() => NativePages.PutBatch([a, gone, default, b]));

        Assert.Contains(gone.ToString(), error.Message, StringComparison.Ordinal);
        Assert.False(NativePages.IsCurrent(a));
        Assert.False(NativePages.IsCurrent(b));
    }

    [Fact]
    public void PutBatch_of_more_refs_than_a_page_run_holds_drops_what_it_holds_then_reports_the_excess()
    {
        var source = new FaultInjectingPageSource();
        var owner = new PageRunOwner(source);
        BioVec run = NativePages.Alloc(100, owner);

        var error = Assert.Throws<InvalidOperationException>(() => NativePages.PutBatch([run, run, run]));

        // As three Puts one at a time: the first drops the run's one reference and unmaps it, the rest are
        // refused. Refused whole, the reference would stay counted with nobody left to drop it.
        Assert.Contains("fewer than the 3", error.Message, StringComparison.Ordinal);
        Assert.False(NativePages.IsCurrent(run));
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void PutBatch_of_a_folio_piece_listed_twice_releases_the_folio_by_the_allocators_Dispose()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false }, source, processors: 1);
        BioVec piece = allocator.Alloc(100);
        allocator.Dispose(); // the arena lets its folio go: the piece holds the folio's last reference

        var error = Assert.Throws<InvalidOperationException>(() => NativePages.PutBatch([piece, piece]));

        Assert.Contains("fewer than the 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a thread of its own (its slice and deferrals start empty) with an allocator
    /// of 16 KiB folios over a fault-injecting source, then disposes the allocator and checks that nothing the
    /// source mapped is still mapped: a reference lost or taken twice on the way would keep a folio or free it early.
    /// </summary>
    private static void OnOneThreadThenNothingMapped(Action<ZcopyAllocator, FaultInjectingPageSource> body)
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        using (var thread = new DedicatedThread())
        {
            thread.Run(() => body(allocator, source));
        }

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void AllocBatch_takes_sizes_up_to_max_fragment_size_and_refuses_one_byte_more_naming_sizes()
    {
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, PageSource.Os, processors: 1);
        int max = allocator.MaxFragmentSize;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => allocator.AllocBatch([8, max + 1], new BioVec[2]));
        Assert.Equal("sizes", error.ParamName);
        Assert.Equal(max + 1, error.ActualValue);
        Assert.Contains($"sizes[1] = {max + 1}", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, allocator.GetStatistics().FragmentsAllocated);

        var pieces = new BioVec[2];
        Assert.Equal(2, allocator.AllocBatch([1, max], pieces));
        Assert.Equal(1, pieces[0].Length);
        Assert.Equal(max, pieces[1].Length);
        NativePages.PutBatch(pieces);
    }
}
