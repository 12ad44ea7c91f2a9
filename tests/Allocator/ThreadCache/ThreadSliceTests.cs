using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using NativeZcopy.ThreadCache;
using Xunit;

namespace NativeZcopy.Tests.Allocator.ThreadCache;

[Collection(DeferredReleaseReaders.Name)]
public sealed class ThreadSliceTests
{
    private static readonly ZcopyAllocatorOptions SmallFolios = new() { FolioSize = 16384 };

    [Fact]
    public void Own_pieces_come_back_without_touching_the_shared_count() => OnFreshThread(() =>
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        Assert.True(allocator.ThreadCache);
        BioVec first = allocator.Alloc(100);
        int count = NativePages.RefCount(first.Page);
        var pieces = new List<BioVec> { first };
        for (int i = 1; i < 20; i++)
        {
            pieces.Add(allocator.Alloc(100));
        }

        // Cut from the slice's share: the shared count did not move per piece, and will not on release.
        Assert.Equal(count, NativePages.RefCount(first.Page));
        Assert.All(pieces, p => Assert.Equal(first.Page, p.Page));
        PieceAssert.Disjoint(pieces);
        foreach (BioVec piece in pieces)
        {
            NativePages.Put(piece);
        }

        Assert.Equal(count, NativePages.RefCount(first.Page));
        Assert.Equal(20, allocator.GetStatistics().FragmentsAllocated); // counted while the slice is still held

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(20, allocator.GetStatistics().FragmentsAllocated);
    });

    [Fact]
    public void A_busy_threads_slices_double_up_to_the_largest_take_a_folios_tail_and_start_small_after_trim() => OnFreshThread(() =>
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536 }, source, processors: 1);
        var pieces = new List<BioVec>();
        var installed = new List<int>();
        for (int i = 0; i < 1000 && installed.Count < 5; i++)
        {
            pieces.Add(allocator.Alloc(128));
            if (ThreadSlice.Current!.PiecesCut == 1)
            {
                installed.Add(ThreadSlice.Current.InstalledBytes); // the piece opened a new slice
            }
        }

        // 8, 16 and 32 KiB fill the first 56 KiB of the folio; its last 8 KiB is a tail slice, after which
        // the thread doubles again from there, in the next folio.
        Assert.Equal([8192, 16384, 32768, 8192, 16384], installed);
        Assert.Equal(2, allocator.GetStatistics().LiveFolios);
        PieceAssert.Disjoint(pieces);

        allocator.Trim();
        pieces.Add(allocator.Alloc(128));
        Assert.Equal(8192, ThreadSlice.Current!.InstalledBytes); // the reclaimed thread starts small again

        NativePages.PutBatch(pieces.ToArray());
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void Pieces_up_to_a_quarter_of_the_largest_slice_are_cut_from_the_slice_and_larger_ones_from_the_arena() => OnFreshThread(() =>
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536 }, source, processors: 1);
        using (ZcopyLocalCache cache = allocator.CreateLocalCache())
        {
            Assert.Equal(16384, cache.MaxCachedSize);
        }

        // The first piece opens a slice with room for four of its size: the whole folio.
        BioVec first = allocator.Alloc(16384);
        Assert.Equal(1, ThreadSlice.Current!.PiecesCut);
        Assert.Equal(65536, ThreadSlice.Current.InstalledBytes);
        int count = NativePages.RefCount(first.Page);
        BioVec second = allocator.Alloc(4000);
        Assert.Equal(2, ThreadSlice.Current.PiecesCut);
        Assert.Equal(count, NativePages.RefCount(first.Page)); // cut from the share, no atomic operation

        // One byte over the limit: the arena's, from the next folio (the slice took all of the first).
        BioVec large = allocator.Alloc(16385);
        Assert.Equal(2, ThreadSlice.Current.PiecesCut);
        Assert.NotEqual(first.Page, large.Page);
        Assert.All([first, second, large], piece => Assert.InRange(piece.Offset + piece.Length, 1, 65536));
        PieceAssert.Disjoint([first, second, large]);

        NativePages.Put(second);
        NativePages.Put(first);
        Assert.Equal(count, NativePages.RefCount(first.Page)); // taken back into the share
        NativePages.Put(large);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void A_piece_larger_than_a_folios_tail_takes_its_slice_from_the_next_folio() => OnFreshThread(() =>
    {
        // 128 B pieces take slices of 8, 16 and 32 KiB, then the folio's last 8 KiB (see the doubling test);
        // a 16 KiB piece then cannot have that tail: its slice must hold it, so it comes from a new folio.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536 }, source, processors: 1);
        var pieces = new List<BioVec>();
        while (ThreadSlice.Current?.InstalledBytes != 32768)
        {
            pieces.Add(allocator.Alloc(128));
        }

        while (ThreadSlice.Current.PiecesCut < 32768 / 128)
        {
            pieces.Add(allocator.Alloc(128));
        }

        BioVec big = allocator.Alloc(16384);
        pieces.Add(big);
        Assert.Equal(1, ThreadSlice.Current.PiecesCut);
        Assert.NotEqual(pieces[0].Page, big.Page);
        Assert.Equal(0, big.Offset);
        Assert.Equal(65536, ThreadSlice.Current.InstalledBytes);
        Assert.All(pieces, piece => Assert.InRange(piece.Offset + piece.Length, 1, 65536));
        PieceAssert.Disjoint(pieces);

        NativePages.PutBatch(pieces.ToArray());
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void A_batch_with_a_16_KiB_piece_is_cut_from_one_slice() => OnFreshThread(() =>
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536 }, source, processors: 1);
        var pieces = new BioVec[3];
        Assert.Equal(3, allocator.AllocBatch([64, 16384, 64], pieces));

        // The 64 B header opens an 8 KiB slice, which cannot hold the body: the body opens a slice of its own,
        // the folio's remaining 56 KiB (room for four like it would be 64), and the trailer follows it there.
        Assert.Equal(2, ThreadSlice.Current!.PiecesCut);
        Assert.Equal(65536 - 8192, ThreadSlice.Current.InstalledBytes);
        Assert.Equal(pieces[0].Page, pieces[1].Page);
        Assert.Equal(8192, pieces[1].Offset);
        Assert.Equal(pieces[1].Entry, pieces[2].Entry);
        Assert.Equal(pieces[1].Offset + 16384, pieces[2].Offset);
        Assert.All(pieces, piece => Assert.InRange(piece.Offset + piece.Length, 1, 65536));
        PieceAssert.Disjoint(pieces);

        NativePages.PutBatch(pieces);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void Slices_taken_back_over_a_whole_1_GiB_folio_at_alignment_2_keep_its_count_in_range() => OnFreshThread(() =>
    {
        // The largest full share that slices (2^29 + 1 references). Each old slice's share goes into the
        // arena's bias and the next slice adds its own, so over the folio's life the count reaches about twice
        // the full share; had the full share been 2^30 + 1, it would pass int.MaxValue, and Get would then call
        // a live piece released (found by a helper's review, step 41).
        var source = new FaultInjectingPageSource();
        var options = new ZcopyAllocatorOptions { FolioSize = 1 << 30, Alignment = 2, PrefaultFolios = false };
        var allocator = new ZcopyAllocator(options, source, processors: 1);
        Assert.True(allocator.ThreadCache);
        long pieces = 0;
        for (int i = 0; i < ((1 << 30) / 16384) + 8; i++)
        {
            BioVec piece = allocator.Alloc(16384);
            NativePages.Get(piece); // refuses a count that has gone out of range
            NativePages.Put(piece);
            NativePages.Put(piece);
            pieces++;
        }

        Assert.Equal(pieces, allocator.GetStatistics().FragmentsAllocated);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void A_1_GiB_folio_at_alignment_1_is_never_sliced_so_16385_local_caches_cannot_overflow_its_count() => OnFreshThread(() =>
    {
        // Its full share is 2^30 + 1 and a slice adds one reference per byte it holds: 16,384 caches holding
        // 64 KiB slices of one such folio took its count past int.MaxValue, after which its pieces read as
        // released and the folio stayed mapped after Dispose (the resource-limit hunt).
        var source = new FaultInjectingPageSource();
        var options = new ZcopyAllocatorOptions { FolioSize = 1 << 30, Alignment = 1, PrefaultFolios = false };
        var allocator = new ZcopyAllocator(options, source, processors: 1);
        Assert.False(allocator.ThreadCache);
        var caches = new List<ZcopyLocalCache>();
        var pieces = new List<BioVec>();
        for (int i = 0; i < 16385; i++)
        {
            ZcopyLocalCache cache = allocator.CreateLocalCache();
            caches.Add(cache);
            pieces.Add(cache.Alloc(16));
            pieces.Add(allocator.Alloc(16));
        }

        Assert.Equal(0, caches[0].MaxCachedSize);
        Assert.All(pieces, piece => Assert.True(NativePages.IsLive(piece)));
        Assert.InRange(NativePages.RefCount(pieces[0].Page), pieces.Count, int.MaxValue);
        NativePages.PutBatch(pieces.ToArray());
        caches.ForEach(cache => cache.Dispose());
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void Pieces_duplicated_and_released_on_the_slices_own_thread_do_not_raise_the_folios_count() => OnFreshThread(() =>
    {
        // Each Get adds to the shared count and each Put on this thread takes the reference back into the
        // slice's share, which used to keep it: the count only rose, and after 2^31 pairs (about 14 s) every
        // Get on the folio was refused (the resource-limit hunt). A share that reaches twice what it was
        // installed with now drops the rest.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using ZcopyLocalCache cache = allocator.CreateLocalCache();
        BioVec own = allocator.Alloc(100);
        BioVec cached = cache.Alloc(100);
        int ownCount = NativePages.RefCount(own.Page);
        int cachedCount = NativePages.RefCount(cached.Page);
        for (int i = 0; i < 100_000; i++)
        {
            NativePages.Get(own);
            NativePages.Put(own);
            NativePages.Get(cached);
            cache.Put(cached);
        }

        // A share keeps up to twice what it was installed with, at most one reference per byte of a slice
        // (8 KiB at first, 16 KiB for the cache), so the count may rise by that, never by the 200,000 duplicates.
        Assert.InRange(NativePages.RefCount(own.Page), 1, ownCount + (2 * 16384));
        Assert.InRange(NativePages.RefCount(cached.Page), 1, cachedCount + (2 * 16384));
        Assert.True(NativePages.IsLive(own));
        Assert.True(NativePages.IsLive(cached));
        NativePages.Put(own);
        cache.Put(cached);
        cache.Dispose();
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void A_map_refused_after_old_slices_were_taken_back_leaks_nothing_and_counts_every_piece() => OnFreshThread(() =>
    {
        // A thread slice and a local cache change slices on 16 KiB folios, taking old slices back into the
        // arena, until every map is refused: the refusal comes after the old share joined the bias (from a
        // helper's review of step 41).
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        var cache = new ZcopyLocalCache(allocator);
        BioVec kept = allocator.Alloc(100); // keeps the first folio referenced: parked, not reissued
        long made = 1;
        bool refused = false;
        for (int i = 0; i < 2000 && !refused; i++)
        {
            source.FailAllMaps = i >= 300;
            BioVec a = default;
            try
            {
                a = allocator.Alloc(100 + (i % 7 * 300));
                made++;
                NativePages.Put(cache.Alloc(64 + (i % 5 * 200)));
                made++;
            }
            catch (OutOfMemoryException)
            {
                refused = true;
            }
            finally
            {
                if (!a.IsEmpty)
                {
                    NativePages.Put(a);
                }
            }
        }

        Assert.True(refused);
        source.FailAllMaps = false;
        NativePages.Put(kept);
        cache.Dispose();
        Assert.Equal(made, allocator.GetStatistics().FragmentsAllocated);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void Releases_past_the_share_on_the_slices_own_thread_never_take_the_count_below_one_or_into_the_generation() => OnFreshThread(() =>
    {
        // A piece released again and again on its slice's thread: a double release, which is not caught, but
        // the share's drop of what it holds above its limit must still never take the count through zero into
        // the generation, as a plain add did (a review of the drop, which first read "gen 4294967295, count -1").
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        BioVec piece = allocator.Alloc(100);
        long entry = PageSideTable.Find(piece.Page);
        ref long state = ref PageSideTable.Run(entry).State;
        int count = PageSideTable.CountOfState(Volatile.Read(ref state));
        for (int i = 0; i <= 3 * count; i++)
        {
            NativePages.Put(piece);
        }

        long after = Volatile.Read(ref state);
        Assert.Equal(PageSideTable.GenerationOf(entry), PageSideTable.GenerationOfState(after));
        Assert.InRange(PageSideTable.CountOfState(after), 1, count);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void The_blocks_fields_do_not_overlap_and_end_within_its_128_bytes()
    {
        // ThreadSliceState places its fields by hand, and its explicit Size hides a field that runs past the
        // end: each field must end by the next one's offset (FolioSlice by Misses), the last (the deferral) by
        // the block's end. Every field is listed, so a new one cannot go unchecked.
        (string Name, int Size)[] fields =
        [
            (nameof(ThreadSliceState.Busy), sizeof(int)),
            (nameof(ThreadSliceState.Revoked), sizeof(int)),
            (nameof(ThreadSliceState.AllocatorId), sizeof(long)),
            (nameof(ThreadSliceState.Slice), Unsafe.SizeOf<FolioSlice>()),
            (nameof(ThreadSliceState.Misses), sizeof(int)),
            (nameof(ThreadSliceState.InstalledBytes), sizeof(int)),
            (nameof(ThreadSliceState.Deferred), Unsafe.SizeOf<DeferredRelease>()),
        ];
        Assert.Equal(
            fields.Select(f => f.Name).Order(),
            typeof(ThreadSliceState).GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).Select(f => f.Name).Order());
        int end = 0;
        string previous = "the block's start";
        foreach ((string name, int size) in fields)
        {
            int offset = (int)Marshal.OffsetOf<ThreadSliceState>(name);
            Assert.True(offset >= end, $"{name} at {offset} overlaps {previous}, which ends at {end}");
            end = offset + size;
            previous = name;
        }

        Assert.True(end <= ThreadSliceState.Size, $"{previous} ends at {end}, past the block's {ThreadSliceState.Size} bytes");
    }

    [Fact]
    public unsafe void A_threads_block_is_aligned_to_its_size() => OnFreshThread(() =>
    {
        // The block is its own pair of cache lines only if it starts one (see ThreadSliceState).
        var allocator = new ZcopyAllocator(SmallFolios, new FaultInjectingPageSource(), processors: 1);
        NativePages.Put(allocator.Alloc(64));
        Assert.Equal(0, (nint)ThreadSlice.State % ThreadSliceState.Size);
        allocator.Dispose();
    });

    [Fact]
    public void An_alignment_too_large_for_a_slice_turns_the_thread_cache_off() => OnFreshThread(() =>
    {
        // A slice holds a share of one ref per Alignment bytes: with 4 KiB folios aligned to 4 KiB it would
        // hold none to cut with, and its pieces would outrun the arena's bias.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096, Alignment = 4096 }, source, processors: 1);
        Assert.False(allocator.ThreadCache);
        using ZcopyLocalCache cache = allocator.CreateLocalCache();
        Assert.Equal(0, cache.MaxCachedSize);

        var pieces = new List<BioVec>();
        for (int i = 0; i < 6; i++)
        {
            pieces.Add(i % 2 == 0 ? allocator.Alloc(100) : cache.Alloc(100));
        }

        Assert.All(pieces, piece => Assert.Equal(0, piece.Offset % 4096));
        PieceAssert.Disjoint(pieces);
        var releaser = new Thread(() => pieces.ForEach(piece => NativePages.Put(piece)));
        releaser.Start();
        releaser.Join();
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    });

    [Fact]
    public void Trim_takes_back_the_slice_of_an_idle_live_thread()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        using var allocated = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        BioVec fromIdleThread = default;
        int piecesCutAfterTrim = 0;
        var worker = new Thread(() =>
        {
            NativePages.Put(allocator.Alloc(64));
            fromIdleThread = allocator.Alloc(64);
            allocated.Set();
            resume.Wait(); // idle, alive, holding its slice

            // After the slice was taken back, the thread cuts from a fresh one: this is its first piece.
            BioVec again = allocator.Alloc(64);
            piecesCutAfterTrim = ThreadSlice.Current!.PiecesCut;
            NativePages.Put(again);
        });
        worker.Start();
        allocated.Wait();

        // LiveFolios is 1 with or without the slice (the arena's folio); what Trim changes is the count:
        // the slice's unspent share leaves it, the arena's stays.
        NativePages.Put(fromIdleThread);
        int withSlice = NativePages.RefCount(fromIdleThread.Page);
        allocator.Trim();
        Assert.True(NativePages.RefCount(fromIdleThread.Page) < withSlice, "Trim left the idle thread's share on its folio");
        Assert.Equal(1, allocator.GetStatistics().LiveFolios);
        resume.Set();
        worker.Join();
        Assert.Equal(1, piecesCutAfterTrim); // the old slice, still held, would have cut its third piece

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void A_dead_threads_slice_is_given_back_by_trim()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        var pieces = new List<BioVec>();
        var worker = new Thread(() =>
        {
            for (int i = 0; i < 10; i++)
            {
                pieces.Add(allocator.Alloc(200));
            }
        });
        worker.Start();
        worker.Join();
        NativePages.PutBatch(pieces.ToArray());

        // The slice of the dead thread (and this thread's deferred releases of its pieces) is all that keeps the
        // folio from its in-place reuse by the arena. Dispose would give it back too, so look before it: Trim
        // drops the slice's share, and the arena's next folio change reissues the folio instead of mapping one.
        nint folio = pieces[0].Page;
        int withSlice = NativePages.RefCount(folio);
        allocator.Trim();
        Assert.True(NativePages.RefCount(folio) < withSlice, "Trim left the dead thread's share on its folio");
        long maps = source.Maps;
        BioVec tail = allocator.Alloc(8192); // the arena's half of the folio, the worker's slice having taken the other
        Assert.Equal(folio, tail.Page);
        NativePages.Put(tail);
        BioVec next = allocator.Alloc(8192); // the folio is used up: the arena changes folio
        Assert.Equal(maps, source.Maps); // with the slice still on it, a new folio would have been mapped
        Assert.Equal(folio, next.Page);
        NativePages.Put(next);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_piece_released_twice_after_its_slice_was_taken_back_is_refused() => OnFreshThread(() =>
    {
        var allocator = new ZcopyAllocator(SmallFolios);
        BioVec piece = allocator.Alloc(64);
        NativePages.Put(piece);
        allocator.Dispose(); // takes the slice back: its folio has no holder left and is unmapped
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);

        var error = Assert.Throws<InvalidOperationException>(() => NativePages.Put(piece));
        Assert.Contains("already released", error.Message, StringComparison.Ordinal);
    });

    [Fact]
    public void Pieces_released_on_other_threads_settle_on_the_shared_count()
    {
        var allocator = new ZcopyAllocator(SmallFolios);
        var pieces = Enumerable.Range(0, 1000).Select(i => allocator.Alloc(1 + (i % 500))).ToArray();
        for (int i = 0; i < pieces.Length; i++)
        {
            pieces[i].AsSpan().Fill((byte)i);
        }

        PieceAssert.Disjoint(pieces);
        var other = new Thread(() =>
        {
            for (int i = 0; i < pieces.Length; i += 2)
            {
                Assert.True(pieces[i].AsSpan().IndexOfAnyExcept((byte)i) < 0);
                NativePages.Put(pieces[i]);
            }
        });
        other.Start();
        other.Join();
        for (int i = 1; i < pieces.Length; i += 2)
        {
            NativePages.Put(pieces[i]);
        }

        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void A_thread_using_two_allocators_gives_its_slice_to_the_one_it_keeps_using() => OnFreshThread(() =>
    {
        var first = new ZcopyAllocator(SmallFolios);
        var second = new ZcopyAllocator(SmallFolios);
        NativePages.Put(first.Alloc(64)); // the slice is now first's

        BioVec probe = second.Alloc(64);
        int count = NativePages.RefCount(probe.Page);
        NativePages.Put(probe); // from second's arena: straight to its shared count
        Assert.Equal(count - 1, NativePages.RefCount(probe.Page));

        for (int i = 0; i < 100; i++)
        {
            NativePages.Put(second.Alloc(64));
        }

        // After enough misses the slice moved to second: its pieces now leave the shared count alone.
        BioVec sliced = second.Alloc(64);
        count = NativePages.RefCount(sliced.Page);
        NativePages.Put(sliced);
        Assert.Equal(count, NativePages.RefCount(sliced.Page));

        first.Dispose();
        second.Dispose();
        Assert.Equal(0, first.GetStatistics().LiveFolios);
        Assert.Equal(0, second.GetStatistics().LiveFolios);
    });

    [Fact]
    public void A_thread_keeps_its_slice_through_64_pieces_of_another_allocator_and_counts_again_after_each_change() => OnFreshThread(() =>
    {
        // A thread alternating between two allocators pays a slice change at most once per 64 pieces
        // (ThreadSlice.MissesBeforeYield): 64 pieces of the other allocator come from its arena, the 65th
        // takes the slice. The count starts again at each change: were it left at 65, the next piece of the
        // first allocator would take the slice straight back, and a thread alternating piece by piece would
        // change slices at every piece. A piece from an arena lowers its folio's count when released; one of
        // the thread's slice goes back into the slice's share and leaves the count alone.
        var first = new ZcopyAllocator(SmallFolios);
        var second = new ZcopyAllocator(SmallFolios);
        Assert.False(CameFromAnArena(first)); // the thread's first slice is first's

        for (int i = 1; i <= 64; i++)
        {
            Assert.True(CameFromAnArena(second), $"second's piece {i} of 64 came from the thread's slice");
        }

        Assert.False(CameFromAnArena(second)); // the 65th: the slice is second's now

        for (int i = 1; i <= 64; i++)
        {
            Assert.True(CameFromAnArena(first), $"first's piece {i} of 64 after the change came from the thread's slice");
        }

        Assert.False(CameFromAnArena(first));

        first.Dispose();
        second.Dispose();
        Assert.Equal(0, first.GetStatistics().LiveFolios);
        Assert.Equal(0, second.GetStatistics().LiveFolios);
    });

    [Fact]
    public void With_8_KiB_folios_a_threads_first_slice_is_half_a_folio_so_two_threads_first_slices_share_one()
    {
        // A first slice is 8 KiB, or less when pieces must be smaller: never more than the largest piece, half
        // a folio. With 8 KiB folios two threads' first slices then come from one folio; an 8 KiB first slice
        // would take the whole folio and make the second thread map another (and with 4 KiB folios it would fit
        // no folio at all).
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 8192 }, source, processors: 1);
        Assert.True(allocator.ThreadCache);
        BioVec first = default;
        BioVec second = default;
        OnFreshThread(() => first = allocator.Alloc(64));
        OnFreshThread(() => second = allocator.Alloc(64));

        Assert.Equal(first.Page, second.Page);
        Assert.Equal(4096, second.Offset);
        Assert.Equal(1, allocator.GetStatistics().FoliosMapped);

        NativePages.Put(first);
        NativePages.Put(second);
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void Off_by_option_or_under_tracking() => OnFreshThread(() =>
    {
        using var off = new ZcopyAllocator(new ZcopyAllocatorOptions { ThreadCache = false });
        using var tracked = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true });
        Assert.False(off.ThreadCache);
        Assert.False(tracked.ThreadCache);

        BioVec piece = off.Alloc(64);
        int count = NativePages.RefCount(piece.Page);
        NativePages.Put(piece);
        Assert.Equal(count - 1, NativePages.RefCount(piece.Page));
    });

    [Fact]
    public void Trims_racing_with_allocating_threads_lose_no_ref_and_corrupt_no_byte()
    {
        // Workers allocate, stamp, hand half their pieces to a neighbour and release the rest, while a
        // reclaimer keeps taking their slices away mid-stream. Any lost or extra ref shows as a folio
        // unmapped under a live piece (a crash or a bad stamp) or as a folio left mapped at the end.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 2);
        const int Workers = 3;
        const int Rounds = 60_000;
        var handoff = Enumerable.Range(0, Workers).Select(_ => new ConcurrentQueue<(BioVec Piece, byte Stamp)>()).ToArray();
        int running = Workers;
        long corrupted = 0;
        var threads = Enumerable.Range(0, Workers).Select(w => new Thread(() =>
        {
            var random = new Random(w);
            var mine = new Queue<(BioVec Piece, byte Stamp)>();
            for (int round = 0; round < Rounds; round++)
            {
                int size = random.Next(1, 600);
                BioVec piece = allocator.Alloc(size);
                byte stamp = (byte)random.Next(256);
                piece.AsSpan().Fill(stamp);
                if ((round & 1) == 0)
                {
                    handoff[(w + 1) % Workers].Enqueue((piece, stamp));
                }
                else
                {
                    mine.Enqueue((piece, stamp));
                }

                if (mine.Count > 16)
                {
                    Release(mine.Dequeue());
                }

                if (handoff[w].TryDequeue(out var received))
                {
                    Release(received);
                }
            }

            while (mine.TryDequeue(out var left))
            {
                Release(left);
            }

            Interlocked.Decrement(ref running);
        })).ToList();

        void Release((BioVec Piece, byte Stamp) item)
        {
            if (item.Piece.AsSpan().IndexOfAnyExcept(item.Stamp) >= 0)
            {
                Interlocked.Increment(ref corrupted);
            }

            NativePages.Put(item.Piece);
        }

        threads.ForEach(t => t.Start());
        int trims = 0;
        int trimsWithASliceHeld = 0;
        while (Volatile.Read(ref running) > 0)
        {
            // A race only if a worker holds a slice of ours as the Trim starts: count those Trims.
            bool held = false;
            foreach (ThreadSlice slice in ThreadSliceRegistry.Snapshot)
            {
                held |= ReferenceEquals(slice.Allocator, allocator);
            }

            allocator.Trim();
            trims++;
            trimsWithASliceHeld += held ? 1 : 0;
        }

        threads.ForEach(t => t.Join());
        foreach (var queue in handoff)
        {
            while (queue.TryDequeue(out var left))
            {
                Release(left);
            }
        }

        Assert.Equal(0, Interlocked.Read(ref corrupted));
        Assert.True(trimsWithASliceHeld > 1, $"only {trimsWithASliceHeld} of {trims} Trims found a worker holding a slice to take");
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal((long)Workers * Rounds, allocator.GetStatistics().FragmentsAllocated);
    }

    [Fact]
    public void Dispose_racing_with_allocating_threads_leaves_nothing_mapped()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 2);
        var held = new ConcurrentBag<BioVec>();
        using var go = new ManualResetEventSlim();
        var threads = Enumerable.Range(0, 3).Select(_ => new Thread(() =>
        {
            go.Wait();
            try
            {
                while (true)
                {
                    BioVec piece = allocator.Alloc(128);
                    if (held.Count < 5000)
                    {
                        held.Add(piece);
                    }
                    else
                    {
                        NativePages.Put(piece);
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                // The allocator is gone: what was cut before stays valid until put.
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        go.Set();
        Thread.Sleep(50);
        allocator.Dispose();
        threads.ForEach(t => t.Join());

        NativePages.PutBatch(held.ToArray());
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void A_slice_installed_after_its_allocators_dispose_is_taken_back_by_another_allocators_reclaimer()
    {
        // AllocSliced cuts a slice from the arena, installs it, and gives it back at once if the allocator was
        // disposed meanwhile: Dispose reclaimed every slice before the install, so none of its own would. The
        // give-back is refused while a reclaimer is at work; a reclaimer for another allocator (a Trim, a
        // Dispose) that revoked the thread between the install and the give-back took only slices of its own
        // allocator and left this one, and the disposed allocator's folio stayed mapped under it (and the thread
        // kept cutting pieces from it). The window is a few instructions (a stress loop hit it about once in
        // 2,000 rounds), so this replays AllocSliced's steps one by one on the owner thread, holding the other
        // reclaimer at a busy slice ahead of the owner's in the registry while the owner's give-back is refused.
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 1);
        var other = new ZcopyAllocator(SmallFolios, new FaultInjectingPageSource(), processors: 1);
        using var ahead = new DedicatedThread();
        using var owner = new DedicatedThread();
        ThreadSlice aheadSlice = null!;
        ThreadSlice ownerSlice = null!;
        ahead.Run(() => aheadSlice = ThreadSlice.ForCurrentThread()); // registered first, so reclaimed first
        owner.Run(() => ownerSlice = ThreadSlice.ForCurrentThread());

        // AllocSliced: the owner has detached its (empty) slice and cut a new one from the arena...
        BioVec whole = default;
        owner.Run(() =>
        {
            FolioSlice none = default;
            whole = allocator.AllocSlice(8192, 64, ref none);
        });

        // ...the allocator's Dispose reclaims every slice (the owner holds none yet) and drains the arena...
        allocator.Dispose();

        // ...the owner installs the slice and cuts its first piece...
        BioVec piece = default;
        owner.Run(() => Assert.True(ownerSlice.TryInstall(allocator, whole, 64, 64, out piece)));

        // ...another allocator's Trim revokes every slice and waits at the busy one ahead of the owner's...
        aheadSlice.BusyForTests = 1;
        var trim = new Thread(() => other.Trim());
        trim.Start();
        Assert.True(SpinWait.SpinUntil(() => ownerSlice.RevokedForTests == 1, 10_000), "the Trim did not revoke the owner's slice");

        // ...and the owner, seeing the allocator disposed, cannot give its slice back: a reclaimer is at work.
        owner.Run(() => Assert.False(allocator.Owner.IsDisposed && ownerSlice.TryDetach(out _, out _)));
        aheadSlice.BusyForTests = 0;
        trim.Join();

        bool sliceLeft = ReferenceEquals(ownerSlice.Allocator, allocator);
        bool refused = false;
        owner.Run(() =>
        {
            NativePages.Put(piece);
            try
            {
                NativePages.Put(allocator.Alloc(64)); // a slice left behind would still cut it
            }
            catch (ObjectDisposedException)
            {
                refused = true;
            }
        });
        long leftMapped = source.BytesMapped;
        allocator.Trim(); // takes the slice back if it was left, so the test leaks nothing either way
        Assert.False(sliceLeft, "the other allocator's Trim left the disposed allocator's slice with the owner");
        Assert.True(refused, "an Alloc after Dispose was cut from the slice left behind");
        Assert.Equal(0, leftMapped);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void Blocks_of_dead_threads_are_freed_once_pruned_while_statistics_and_trims_read_the_registry()
    {
        // A thread's block (ThreadSliceState) is native memory freed by its slice's finalizer, once the thread
        // is dead and a reclaim has pruned the slice. Rounds of short-lived threads allocate, hand half their
        // pieces to the next round's threads (which release them on another thread: deferred, so some threads
        // die holding a deferral), release the rest and die; each round a Trim prunes them and the GC runs
        // their finalizers, while another thread reads statistics and trims throughout, so reclaims and
        // statistics walk slices whose threads just died. A block never freed (no finalizer, or a reclaim that
        // does not prune) stays in the count of live blocks; one freed by a prune as well as by the finalizer
        // crashes the process (glibc sees the double free).
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(SmallFolios, source, processors: 2);
        const int Rounds = 16;
        const int Threads = 4;
        const int Pieces = 48;
        CollectPrunedSlices(allocator);
        long blocksBefore = ThreadSlice.LiveBlocksForTests;
        var handed = new List<BioVec>[Threads];
        var slices = new List<WeakReference>();
        int withoutSlice = 0;
        long readings = 0;
        long countWentDown = 0;
        bool stop = false;
        var reader = new Thread(() =>
        {
            long last = 0;
            while (!Volatile.Read(ref stop))
            {
                ZcopyStatistics stats = allocator.GetStatistics();
                countWentDown += stats.FragmentsAllocated < last || stats.LiveFolios < 0 ? 1 : 0;
                last = Math.Max(last, stats.FragmentsAllocated);
                allocator.Trim();
                readings++;
            }
        });
        reader.Start();
        for (int round = 0; round <= Rounds; round++)
        {
            bool last = round == Rounds; // only releases what the round before handed on
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                if (handed[t] is { } received)
                {
                    received.ForEach(piece => NativePages.Put(piece));
                }

                handed[t] = null!;
                if (last)
                {
                    return;
                }

                var mine = new List<BioVec>();
                var next = new List<BioVec>();
                for (int i = 0; i < Pieces; i++)
                {
                    (i % 2 == 0 ? mine : next).Add(allocator.Alloc(1 + ((i * 37) % 700)));
                }

                if (ThreadSlice.Current is { } slice)
                {
                    lock (slices)
                    {
                        slices.Add(new WeakReference(slice));
                    }
                }
                else
                {
                    Interlocked.Increment(ref withoutSlice);
                }

                NativePages.PutBatch(mine.ToArray());
                handed[t] = next;
            })).ToList();
            threads.ForEach(thread => thread.Start());
            threads.ForEach(thread => thread.Join());
            CollectPrunedSlices(allocator);
        }

        Volatile.Write(ref stop, true);
        reader.Join();
        Assert.Equal(0, withoutSlice);
        Assert.True(readings > 0, "the reader never read the statistics");
        Assert.Equal(0, countWentDown);

        // Every piece was released, by threads now dead: their slices and deferrals were reclaimed, so the
        // allocator holds only its arenas' folios, and every piece was counted. A reading may count a slice
        // given back during it twice (GetStatistics' remarks), and the reported count never goes back, so it
        // may stay above the total by the pieces of the slices one Trim gave back: a round's, at most.
        long total = (long)Rounds * Threads * Pieces;
        Assert.InRange(allocator.GetStatistics().FragmentsAllocated, total, total + (Threads * Pieces));
        CollectPrunedSlices(allocator);
        Assert.Equal(Rounds * Threads, slices.Count);
        Assert.DoesNotContain(slices, slice => slice.IsAlive); // collected, so finalized: this test's own slices
        Assert.True(
            ThreadSlice.LiveBlocksForTests <= blocksBefore,
            $"{ThreadSlice.LiveBlocksForTests - blocksBefore} blocks were still allocated after their threads died and were pruned");
        allocator.Dispose();
        ZcopyStatistics after = allocator.GetStatistics();
        Assert.Equal(0, after.LiveFolios);
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(source.Maps, source.Unmaps);
        SideTableChecker.AssertConsistent();
    }

    /// <summary>
    /// Prunes dead threads' slices (<paramref name="allocator"/>'s Trim reclaims every slice of a dead thread)
    /// and runs the finalizers of those no longer reachable, which free their blocks.
    /// </summary>
    private static void CollectPrunedSlices(ZcopyAllocator allocator)
    {
        allocator.Trim();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>
    /// Allocates and releases one 64-byte piece: true when its release lowered its folio's count (an arena's
    /// piece), false when the thread's slice took it back.
    /// </summary>
    private static bool CameFromAnArena(ZcopyAllocator allocator)
    {
        BioVec piece = allocator.Alloc(64);
        int count = NativePages.RefCount(piece.Page);
        NativePages.Put(piece);
        return NativePages.RefCount(piece.Page) == count - 1;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a thread of its own, whose slice no earlier test used, and rethrows
    /// what it threw.
    /// </summary>
    private static void OnFreshThread(Action body)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }
}
