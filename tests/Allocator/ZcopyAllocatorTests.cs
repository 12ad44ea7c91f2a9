using System;
using System.Collections.Generic;
using System.Linq;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

[Collection(ProcMapsReaders.Name)]
public sealed class ZcopyAllocatorTests
{
    [Fact]
    public void Defaults_follow_the_contract()
    {
        using var allocator = new ZcopyAllocator();
        Assert.Equal(65536, allocator.FolioSize);
        Assert.Equal(8, allocator.Alignment);
        Assert.Equal(32768, allocator.MaxFragmentSize);
        Assert.True(allocator.ArenaCount >= Environment.ProcessorCount);
        Assert.Equal(0, allocator.ArenaCount & (allocator.ArenaCount - 1));
    }

    [Theory]
    [InlineData(1, 8)]
    [InlineData(4096, 64)]
    [InlineData(65536, 1)]
    [InlineData(65536, 8)]
    [InlineData(2 * 1024 * 1024, 16)]
    public void Pieces_are_aligned_inside_their_folio_and_never_overlap(int folioSize, int alignment)
    {
        folioSize = Math.Max(folioSize, NativePages.OsPageSize);
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = folioSize, Alignment = alignment }, PageSource.Os, processors: 1);
        var random = new Random(folioSize ^ alignment);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 3000; i++)
        {
            int size = random.Next(1, Math.Min(allocator.MaxFragmentSize, 700) + 1);
            BioVec piece = allocator.Alloc(size);
            Assert.Equal(size, piece.Length);
            Assert.Equal(0, piece.Address % alignment);
            Assert.True(piece.Offset >= 0 && piece.Offset + piece.Length <= folioSize);
            Assert.True(NativePages.IsNativePage(piece.Address));
            Assert.True(NativePages.IsNativePage(piece.Address + piece.Length - 1));
            piece.AsSpan().Fill((byte)i);
            pieces.Add(piece);
        }

        PieceAssert.Disjoint(pieces);
        PieceAssert.FilledWithIndex(pieces);
        NativePages.PutBatch(pieces.ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(2048)]
    [InlineData(32768)]
    public void MemDup_copies_exactly(int length)
    {
        using var allocator = new ZcopyAllocator();
        byte[] source = new byte[length];
        new Random(length).NextBytes(source);
        BioVec copy = allocator.MemDup(source);
        Assert.Equal(length, copy.Length);
        Assert.True(copy.AsSpan().SequenceEqual(source));
        NativePages.Put(copy);
    }

    [Fact]
    public void A_folio_is_unmapped_exactly_when_its_last_ref_goes()
    {
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, PageSource.Os, processors: 1);
        BioVec first = allocator.Alloc(8192);
        BioVec second = allocator.Alloc(8192);     // fills the folio
        NativePages.Get(second.Address + 100);      // an extra ref, as a second user of the bytes
        BioVec third = allocator.Alloc(8192);       // the first folio is full with pieces out: parked
        BioVec fourth = allocator.Alloc(8192);
        BioVec fifth = allocator.Alloc(8192);       // the second parked in its turn: the first let go to its pieces
        Assert.NotEqual(first.Page, third.Page);
        Assert.Equal(first.Page, second.Page);
        Assert.Equal(third.Page, fourth.Page);
        Assert.NotEqual(third.Page, fifth.Page);
        nint folio = first.Page;

        NativePages.Put(first);
        NativePages.Put(second);
        Assert.True(ProcMaps.IsMapped(folio, 16384));
        Assert.Equal(1, NativePages.RefCount(folio));
        Assert.Equal(0, allocator.GetStatistics().FoliosUnmapped);

        byte[] marker = ProcMaps.Mark(folio);       // the first piece's bytes: released, still mapped
        NativePages.Put(second.Address + 100);      // the last ref
        Assert.True(ProcMaps.IsGone(folio, 16384, marker));
        Assert.False(NativePages.IsNativePage(folio));
        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(3, stats.FoliosMapped);
        Assert.Equal(1, stats.FoliosUnmapped);
        Assert.Equal(2, stats.LiveFolios);
        Assert.Equal(5, stats.FragmentsAllocated);

        NativePages.Put(third);
        NativePages.Put(fourth);
        NativePages.Put(fifth);
    }

    [Fact]
    public void Dispose_drops_the_arenas_refs_and_pieces_keep_their_folio_until_their_put()
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, PageSource.Os, processors: 1);
        BioVec piece = allocator.Alloc(100);
        allocator.Dispose();
        allocator.Dispose();

        Assert.True(ProcMaps.IsMapped(piece.Page, 16384));
        Assert.Equal(1, NativePages.RefCount(piece.Page));
        Assert.Equal(1, allocator.GetStatistics().LiveFolios);
        Assert.Throws<ObjectDisposedException>(() => allocator.Alloc(100));
        Assert.Throws<ObjectDisposedException>(() => allocator.TryAlloc(100, out _));
        Assert.Throws<ObjectDisposedException>(() => allocator.MemDup(new byte[4]));

        byte[] marker = ProcMaps.Mark(piece.Page);
        NativePages.Put(piece);
        Assert.True(ProcMaps.IsGone(piece.Page, 16384, marker));
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void Shared_is_one_instance_and_ignores_dispose()
    {
        ZcopyAllocator shared = ZcopyAllocator.Shared;
        Assert.Same(shared, ZcopyAllocator.Shared);
        shared.Dispose();
        BioVec piece = shared.Alloc(64);
        NativePages.Put(piece);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    [InlineData(32769)]
    [InlineData(int.MaxValue)]
    public void A_size_outside_one_to_max_fragment_is_refused(int size)
    {
        // With and without the thread cache: Alloc's inlined part checks the size only against the slice's
        // limit, and everything else reaches the full check out of line.
        foreach (bool threadCache in new[] { true, false })
        {
            using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { ThreadCache = threadCache });
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => allocator.Alloc(size));
            Assert.Contains(size.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => allocator.MemDup(new byte[Math.Clamp(size, 0, 40000)]));
            Assert.False(allocator.TryAlloc(size, out BioVec none));
            Assert.True(none.IsEmpty);
            Assert.Equal(0, allocator.GetStatistics().FoliosMapped);
        }
    }

    [Theory]
    [InlineData(3000, 8, "FolioSize 3000")]
    [InlineData(2048, 8, "FolioSize 2048")]
    [InlineData(65536, 3, "Alignment 3")]
    [InlineData(65536, 0, "Alignment 0")]
    [InlineData(65536, 8192, "Alignment 8192")]
    [InlineData(1 << 30 << 1, 8, "FolioSize")]
    public void Bad_options_are_refused_naming_the_value(int folioSize, int alignment, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = folioSize, Alignment = alignment }));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Retention_takes_0_to_1024_folios_per_arena_and_refuses_1025_naming_it()
    {
        using (var none = new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = 0 }))
        {
            Assert.Equal(0, none.RetainedFoliosPerArena);
        }

        using (var most = new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = 1024 }))
        {
            Assert.Equal(1024, most.RetainedFoliosPerArena);
        }

        var error = Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = 1025 }));
        Assert.Equal("options", error.ParamName);
        Assert.Contains("RetainedFoliosPerArena 1025", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_os_refusal_is_out_of_memory_for_alloc_and_false_for_try_alloc_and_the_allocator_recovers()
    {
        var source = new FaultInjectingPageSource { FailAllMaps = true };
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions(), source, processors: 1);

        var error = Assert.Throws<OutOfMemoryException>(() => allocator.Alloc(100));
        Assert.Contains("65536-byte folio", error.Message, StringComparison.Ordinal);
        Assert.Contains("ENOMEM", error.Message, StringComparison.Ordinal);
        Assert.False(allocator.TryAlloc(100, out BioVec none));
        Assert.True(none.IsEmpty);
        Assert.Equal(0, source.BytesMapped);
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);

        source.FailAllMaps = false;
        BioVec piece = allocator.MemDup([1, 2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3 }, piece.AsSpan().ToArray());
        NativePages.Put(piece);
        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void Every_kth_map_failing_leaks_nothing()
    {
        for (int k = 1; k <= 6; k++)
        {
            var source = new FaultInjectingPageSource { FailMapNumber = k };
            var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 4096 }, source, processors: 1);
            var pieces = new List<BioVec>();
            int failures = 0;
            for (int i = 0; i < 40; i++)
            {
                if (allocator.TryAlloc(1000, out BioVec piece))
                {
                    pieces.Add(piece);
                }
                else
                {
                    failures++;
                }
            }

            Assert.Equal(1, failures);
            pieces.ForEach(p => NativePages.Put(p));
            allocator.Dispose();
            Assert.Equal(0, source.BytesMapped);
            ZcopyStatistics stats = allocator.GetStatistics();
            Assert.Equal(stats.FoliosMapped, stats.FoliosUnmapped);
        }
    }

    [Fact]
    public void LeakReportAge_takes_zero_and_infinite_and_refuses_a_tick_below_zero()
    {
        using (new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true, LeakReportAge = TimeSpan.Zero }))
        using (new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true, LeakReportAge = System.Threading.Timeout.InfiniteTimeSpan }))
        {
        }

        var age = Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true, LeakReportAge = TimeSpan.FromTicks(-1) }));
        Assert.Equal("options", age.ParamName);
        Assert.Contains("LeakReportAge", age.Message, StringComparison.Ordinal);
    }
}
