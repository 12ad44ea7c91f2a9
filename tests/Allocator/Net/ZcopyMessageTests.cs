using System;
using NativeZcopy.Net;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Net;

public sealed class ZcopyMessageTests
{
    [Fact]
    public void Add_takes_over_the_ref_and_dispose_drops_it_once()
    {
        var allocator = new ZcopyAllocator();
        BioVec run = NativePages.Alloc(10_000);
        BioVec header = allocator.Alloc(64);
        var message = new ZcopyMessage(allocator);
        message.Add(header);
        message.Add(run);
        Assert.Equal(2, message.Count);
        Assert.Equal(10_064, message.Length);
        Assert.Equal(1, NativePages.RefCount(run.Page));

        message.Dispose();
        message.Dispose();
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(run));
        Assert.Equal(0, message.Count);
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void Dispose_that_drops_a_folios_last_reference_does_not_throw_when_the_unmap_is_refused()
    {
        var source = new FaultInjectingPageSource();
        ZcopyAllocator allocator = LastReferenceOfAFolio.NewAllocator(source);
        var message = new ZcopyMessage(allocator);
        BioVec piece = LastReferenceOfAFolio.Cut(allocator, fill: 1);
        message.Add(piece);
        long mapped = source.BytesMapped;
        source.FailUnmaps = true;

        message.Dispose();

        Assert.Equal(0, message.Count);
        Assert.Equal(0, NativePages.RefCount(piece.Page));        // dropped, and the folio kept for the retry
        Assert.Equal(mapped, source.BytesMapped);
        source.FailUnmaps = false;
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void AddRef_takes_a_ref_of_its_own_and_the_caller_keeps_theirs()
    {
        BioVec run = NativePages.Alloc(4096);
        using (var message = new ZcopyMessage())
        {
            message.AddRef(run);
            message.AddRef(run.Slice(100, 50));
            Assert.Equal(3, NativePages.RefCount(run.Page));
            Assert.Equal(4146, message.Length);
        }

        Assert.Equal(1, NativePages.RefCount(run.Page));
        NativePages.Put(run);
    }

    [Fact]
    public unsafe void AddSpliced_inside_a_live_native_page_takes_a_ref_and_copies_nothing()
    {
        var allocator = new ZcopyAllocator();
        BioVec run = NativePages.Alloc(3 * NativePages.OsPageSize);
        BioVec header = allocator.Alloc(200);
        long fragmentsBefore = allocator.GetStatistics().FragmentsAllocated;
        using (var message = new ZcopyMessage(allocator))
        {
            // A span across the run's interior page boundaries and one inside an allocator piece.
            message.AddSpliced(run.AsSpan().Slice(NativePages.OsPageSize - 10, NativePages.OsPageSize + 20));
            message.AddSpliced(header.AsSpan().Slice(8, 100));
            Assert.Equal(2, NativePages.RefCount(run.Page));
            Assert.Equal(fragmentsBefore, allocator.GetStatistics().FragmentsAllocated);
            Assert.Equal(NativePages.OsPageSize + 120, message.Length);
        }

        Assert.Equal(1, NativePages.RefCount(run.Page));
        NativePages.Put(run);
        NativePages.Put(header);
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void AddSpliced_of_managed_bytes_copies_them_in_fragments_no_larger_than_the_allocator_allows()
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = NativePages.OsPageSize });
        byte[] data = new byte[(allocator.MaxFragmentSize * 2) + 7];
        new Random(5).NextBytes(data);
        using (var message = new ZcopyMessage(allocator))
        {
            message.AddSpliced(data);
            message.AddSpliced([]);
            Assert.Equal(3, message.Count);
            Assert.Equal(data.Length, message.Length);
            Assert.Equal(3, allocator.GetStatistics().FragmentsAllocated);
        }

        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void AddSpliced_copies_managed_bytes_in_fragments_of_the_largest_size_so_whole_multiples_need_no_extra_fragment()
    {
        // Each chunk is as large as a piece may be: bytes that fill two pieces exactly are two entries, not three
        // (a chunk one byte short would leave two bytes over for a third).
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = NativePages.OsPageSize });
        byte[] data = new byte[allocator.MaxFragmentSize * 2];
        new Random(6).NextBytes(data);
        using (var message = new ZcopyMessage(allocator))
        {
            message.AddSpliced(data);
            Assert.Equal(2, message.Count);
            Assert.Equal(data.Length, message.Length);
            Assert.Equal(2, allocator.GetStatistics().FragmentsAllocated);
        }

        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void AddSpliced_that_runs_out_of_folios_partway_leaves_the_message_unchanged_and_releases_the_chunks_it_copied()
    {
        var source = new FaultInjectingPageSource { FailMapNumber = 2 };
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096, ThreadCache = false }, source, processors: 1);
        using var message = new ZcopyMessage(allocator);
        message.AddSpliced(new byte[] { 9 });
        byte[] data = new byte[allocator.MaxFragmentSize * 3];

        Assert.Throws<OutOfMemoryException>(() => message.AddSpliced(data));

        Assert.True(allocator.GetStatistics().FragmentsAllocated >= 2, "the failure came after a chunk was copied");
        Assert.Equal(1, message.Count);
        Assert.Equal(1, message.Length);
        message.Dispose();
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_range_running_past_its_native_run_is_not_taken_and_moves_no_count()
    {
        // AddSpliced copies such a range; reading past the run could fault, so the decision is checked
        // on its own: no piece, no ref left behind.
        int page = NativePages.OsPageSize;
        BioVec run = NativePages.Alloc(page);
        Assert.False(NativePages.TryGetRange(run.Page + page - 16, 32, out _));
        Assert.False(NativePages.TryGetRange(run.Page - 1, 2, out _));
        Assert.Equal(1, NativePages.RefCount(run.Page));

        Assert.True(NativePages.TryGetRange(run.Page + page - 16, 16, out BioVec tail));
        Assert.Equal(run.Page, tail.Page);
        Assert.Equal(page - 16, tail.Offset);
        Assert.Equal(2, NativePages.RefCount(run.Page));
        NativePages.Put(tail);
        NativePages.Put(run);
    }

    [Fact]
    public void A_disposed_message_refuses_every_add_and_an_empty_piece_is_refused()
    {
        BioVec run = NativePages.Alloc(64);
        var message = new ZcopyMessage();
        Assert.Throws<ArgumentException>(() => message.Add(default));
        Assert.Throws<ArgumentException>(() => message.AddRef(default));
        message.Dispose();
        Assert.Throws<ObjectDisposedException>(() => message.Add(run));
        Assert.Throws<ObjectDisposedException>(() => message.AddRef(run));
        Assert.Throws<ObjectDisposedException>(() => message.AddSpliced(new byte[3]));
        Assert.Equal(1, NativePages.RefCount(run.Page));
        NativePages.Put(run);
    }
    [Fact]
    public void Add_refuses_a_released_piece_whose_folio_was_reissued_to_another_user_and_moves_no_count()
    {
        using ZcopyAllocator allocator = LastReferenceOfAFolio.NewRetainingAllocator();
        BioVec stale = LastReferenceOfAFolio.Cut(allocator, fill: 1);
        BioVec secret = LastReferenceOfAFolio.ReleaseAndReissue(allocator, stale);
        secret.AsSpan().Fill((byte)'X');
        int before = NativePages.RefCount(secret.Page);
        using var message = new ZcopyMessage(allocator);

        var error = Assert.Throws<InvalidOperationException>(() => message.Add(stale));

        Assert.Contains($"0x{stale.Page:X}", error.Message, StringComparison.Ordinal);
        Assert.Contains("already released", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, message.Count);
        Assert.Equal(before, NativePages.RefCount(secret.Page));
        NativePages.Put(secret);
    }

    [Fact]
    public void Add_with_fragment_tracking_refuses_a_released_piece_of_a_live_folio()
    {
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true });
        BioVec released = allocator.Alloc(64);
        BioVec live = allocator.Alloc(64);
        NativePages.Put(released);
        using var message = new ZcopyMessage(allocator);

        Assert.Throws<InvalidOperationException>(() => message.Add(released));
        message.Add(live);

        Assert.Equal(1, message.Count);
        Assert.DoesNotContain(allocator.GetOutstandingFragments(), f => f.Fragment.Address == released.Address);
    }
}
