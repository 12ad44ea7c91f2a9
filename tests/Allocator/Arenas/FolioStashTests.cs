using System;
using System.Collections.Generic;
using System.Threading.Tasks;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Arenas;

public sealed class FolioStashTests
{
    private static ZcopyAllocator Retaining(FaultInjectingPageSource source, int retained) =>
        new(new ZcopyAllocatorOptions { FolioSize = 4096, RetainedFoliosPerArena = retained }, source, processors: 1);

    [Fact]
    public void Folios_whose_last_ref_goes_are_kept_up_to_the_limit_and_reused_without_a_map()
    {
        var source = new FaultInjectingPageSource();
        var allocator = Retaining(source, retained: 2);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 10; i++)
        {
            pieces.Add(allocator.Alloc(2048));   // two per folio: 5 folios, 3 let go, 1 parked, 1 current
        }

        pieces.ForEach(p => NativePages.Put(p));
        ZcopyStatistics afterRelease = allocator.GetStatistics();
        Assert.Equal(5, afterRelease.FoliosMapped);
        Assert.Equal(2, afterRelease.FoliosRetained);
        Assert.Equal(1, afterRelease.FoliosUnmapped);  // 3 folios let go died: 2 kept, 1 unmapped
        Assert.Equal(4, afterRelease.LiveFolios);       // 2 kept, the parked one and the current one

        long maps = source.MapCalls;
        BioVec first = pieces[0];
        var again = new List<BioVec>();
        for (int i = 0; i < 8; i++)
        {
            // The current folio reused in place, then the parked one, then the 2 kept; nothing mapped.
            again.Add(allocator.Alloc(2048));
        }

        Assert.Equal(maps, source.MapCalls);
        Assert.Equal(0, allocator.GetStatistics().FoliosRetained);

        // A stale piece of a reused folio's earlier life cannot touch it.
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(first));

        again.ForEach(p => NativePages.Put(p));
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Assert.Equal(0, source.BytesMapped);
    }

    [Fact]
    public void Trim_gives_back_retained_folios_and_spares_but_not_folios_in_use()
    {
        var source = new FaultInjectingPageSource();
        using var allocator = Retaining(source, retained: 4);
        var pieces = new List<BioVec>();
        for (int i = 0; i < 8; i++)
        {
            pieces.Add(allocator.Alloc(2048));
        }

        BioVec kept = pieces[^1];
        pieces.RemoveAt(pieces.Count - 1);
        pieces.ForEach(p => NativePages.Put(p));
        Assert.Equal(2, allocator.GetStatistics().FoliosRetained); // and a third parked in the arena

        Assert.Equal(3, allocator.Trim());
        ZcopyStatistics stats = allocator.GetStatistics();
        Assert.Equal(0, stats.FoliosRetained);
        Assert.Equal(1, stats.LiveFolios);
        Assert.Equal(4096, source.BytesMapped);
        Assert.True(NativePages.IsNativePage(kept.Address));
        NativePages.Put(kept);
    }

    [Fact]
    public void Retention_bounds_are_checked()
    {
        var error = Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = -1 }));
        Assert.Contains("RetainedFoliosPerArena -1", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = 1025 }));
    }

    [Fact]
    public async Task Releases_racing_dispose_leave_nothing_mapped()
    {
        for (int round = 0; round < 20; round++)
        {
            var source = new FaultInjectingPageSource();
            var allocator = Retaining(source, retained: 8);
            var pieces = new BioVec[64];
            for (int i = 0; i < pieces.Length; i++)
            {
                pieces[i] = allocator.Alloc(2048);
            }

            Task release = Task.Run(() => Array.ForEach(pieces, p => NativePages.Put(p)));
            allocator.Dispose();
            await release;

            Assert.Equal(0, allocator.GetStatistics().LiveFolios);
            Assert.Equal(0, source.BytesMapped);
        }
    }
}
