using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

public sealed class ZcopyLocalCacheTests
{
    [Fact]
    public void Pieces_are_aligned_disjoint_and_intact_across_slices()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, Alignment = 16 }, source, processors: 1);
        var cache = allocator.CreateLocalCache();
        var random = new Random(5);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 2000; i++)
        {
            BioVec piece = cache.Alloc(random.Next(1, 3000));
            Assert.Equal(0, piece.Address % 16);
            piece.AsSpan().Fill((byte)i);
            pieces.Add(piece);
        }

        PieceAssert.Disjoint(pieces);
        PieceAssert.FilledWithIndex(pieces);
        Assert.Equal(pieces.Count, allocator.GetStatistics().FragmentsAllocated);   // the current slice's pieces too, while the cache holds it
        for (int i = 0; i < pieces.Count; i++)
        {
            if (i % 2 == 0)
            {
                cache.Put(pieces[i]);
            }
            else
            {
                NativePages.Put(pieces[i]);
            }
        }

        cache.Dispose();
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Assert.Equal(pieces.Count, allocator.GetStatistics().FragmentsAllocated);   // one per piece the user saw, not per slice
    }

    [Fact]
    public void Put_of_an_own_piece_moves_no_shared_count_and_the_slice_return_settles_it()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        var cache = allocator.CreateLocalCache();
        BioVec a = cache.Alloc(100);
        int count = NativePages.RefCount(a.Page);
        BioVec b = cache.Alloc(100);
        Assert.Equal(count, NativePages.RefCount(a.Page));
        cache.Put(a);
        cache.Put(b);
        Assert.Equal(count, NativePages.RefCount(a.Page));

        allocator.Dispose();                       // the arena lets the folio go; the cache still holds it
        Assert.Equal(1, allocator.GetStatistics().LiveFolios);
        cache.Dispose();
        cache.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Assert.Equal(0, source.BytesMapped);
        Assert.Throws<ObjectDisposedException>(() => cache.Alloc(10));
    }

    [Theory]
    [InlineData(8192, false)]   // tail shorter than the piece: the cache's slice comes from a new folio
    [InlineData(16384, true)]   // tail as long as the piece: the cache takes the tail
    public void A_cached_piece_larger_than_the_folios_tail_never_runs_past_it(int tail, bool fromTail)
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536, ThreadCache = false }, source, processors: 1);
        var held = new List<BioVec> { allocator.Alloc(32768), allocator.Alloc(32768 - tail) };
        Assert.Equal(65536 - tail, held[^1].Offset + held[^1].Length);
        using (var cache = allocator.CreateLocalCache())
        {
            BioVec big = cache.Alloc(16384);
            BioVec next = cache.Alloc(64);
            Assert.Equal(fromTail, big.Page == held[0].Page);
            Assert.Equal(fromTail ? 65536 - tail : 0, big.Offset);
            Assert.InRange(big.Offset + big.Length, 1, 65536);
            var all = new List<BioVec>(held) { big, next };
            PieceAssert.Disjoint(all);
            cache.Put(next);
            cache.Put(big);
        }

        NativePages.PutBatch(held.ToArray());
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public async Task Pieces_released_on_other_threads_and_large_pieces_need_nothing_special()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 2);
        using (var cache = allocator.CreateLocalCache())
        {
            Assert.Equal(4096, cache.MaxCachedSize); // a quarter of the largest slice, here the 16 KiB folio
            var pieces = Enumerable.Range(0, 5000).Select(i => cache.Alloc(i % 3 == 0 ? (i % 2 == 0 ? 5000 : 3000) : 64)).ToArray();
            Assert.Equal(5000, pieces[0].Length);
            Assert.Equal(3000, pieces[3].Length); // cut from the cache's slice now, above the old 2 KiB
            await Task.Run(() => NativePages.PutBatch(pieces));
            Assert.Throws<ArgumentOutOfRangeException>(() => cache.Alloc(0));
            Assert.Throws<ArgumentOutOfRangeException>(() => cache.Alloc(8193));
            var error = Assert.Throws<InvalidOperationException>(() => cache.Put(default));
            Assert.Contains("empty", error.Message, StringComparison.Ordinal);
        }

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    /// <summary>
    /// The allocator knows a cache only while it holds a slice, for its Dispose to shut: a cache that never
    /// took one (unused, or forwarding everything under fragment tracking) and was never disposed is garbage
    /// like any other object (found by a review of the first version, which registered every cache).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_undisposed_cache_holding_no_slice_is_not_kept_alive_by_its_allocator(bool tracking)
    {
        using var allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 16384, TrackFragments = tracking, LeakReportAge = System.Threading.Timeout.InfiniteTimeSpan },
            NativeZcopy.Native.PageSource.Os,
            processors: 1);
        WeakReference cache = MakeCache(allocator, use: tracking);
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(cache.IsAlive);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference MakeCache(ZcopyAllocator allocator, bool use)
    {
        var cache = allocator.CreateLocalCache();
        if (use)
        {
            cache.Put(cache.Alloc(64));
        }

        return new WeakReference(cache);
    }

    [Fact]
    public void Pieces_up_to_max_cached_size_are_cut_from_the_cache_and_one_byte_more_goes_to_the_allocator()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536 }, source, processors: 1);
        var cache = allocator.CreateLocalCache();
        int max = cache.MaxCachedSize;
        Assert.Equal(16384, max);

        // One byte over, with no slice yet: the allocator's piece, and the cache takes no slice for it.
        BioVec over = cache.Alloc(max + 1);
        Assert.Equal(0, cache.PiecesCut);

        // Exactly the limit: cut from a slice the cache takes. One byte over, with room left in that slice: still
        // the allocator's, the slice untouched.
        BioVec most = cache.Alloc(max);
        Assert.Equal(1, cache.PiecesCut);
        BioVec overAgain = cache.Alloc(max + 1);
        Assert.Equal(1, cache.PiecesCut);
        Assert.NotEqual(most.Page, overAgain.Page);
        PieceAssert.Disjoint([over, most, overAgain]);

        NativePages.PutBatch([over, most, overAgain]);
        cache.Dispose();
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_disposed_cache_refuses_allocations_while_its_allocator_lives_and_is_not_kept_alive_by_it()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        Collections.CollectUntilGone(MakeDisposedCache(allocator), "a disposed cache (the allocator forgets it at its Dispose)");
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_cache_made_after_its_allocators_dispose_starts_shut()
    {
        // The allocator's Dispose shuts the caches it knows, and their MaxCachedSize reads 0 from then on. A
        // cache made after that Dispose is not known to it: it starts shut, reads 0 before any Alloc (it read the
        // allocator's size until its first Alloc), takes no slice and maps nothing, now or later.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        allocator.Dispose();
        using var late = new ZcopyLocalCache(allocator);

        Assert.Equal(0, late.MaxCachedSize);
        Assert.Throws<ObjectDisposedException>(() => late.Alloc(64));
        Assert.Equal(0, late.MaxCachedSize);
        Assert.Equal(0, late.PiecesCut);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_cache_never_used_before_its_allocators_dispose_shuts_itself_at_its_first_refused_allocation()
    {
        // A cache is known to its allocator only from its first slice, so this Dispose cannot shut it (nor a
        // Dispose racing the cache's constructor): its first Alloc finds the allocator disposed and shuts the
        // cache itself, which then reads 0, takes no slice and maps nothing, now or later.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        using var unused = new ZcopyLocalCache(allocator);
        Assert.NotEqual(0, unused.MaxCachedSize);
        allocator.Dispose();

        Assert.Throws<ObjectDisposedException>(() => unused.Alloc(64));
        Assert.Equal(0, unused.MaxCachedSize);
        Assert.Throws<ObjectDisposedException>(() => unused.Alloc(64));
        Assert.Equal(0, unused.PiecesCut);
        Assert.Equal(0, source.BytesMapped);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference MakeDisposedCache(ZcopyAllocator allocator)
    {
        var cache = allocator.CreateLocalCache();
        cache.Put(cache.Alloc(64)); // registered with the allocator, holding a slice
        cache.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cache.Alloc(64));
        Assert.Throws<ObjectDisposedException>(() => cache.Alloc(cache.MaxCachedSize + 1));
        Assert.Equal(0, cache.PiecesCut);
        return new WeakReference(cache);
    }
}
