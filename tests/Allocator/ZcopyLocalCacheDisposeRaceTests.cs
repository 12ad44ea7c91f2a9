using System;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Tests.Support;
using NativeZcopy.ThreadCache;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

/// <summary>
/// A local cache that takes its first slice while the allocator's Dispose is under way (marked disposed, the
/// arenas not drained yet): the allocator refuses to know the cache, but the cache takes the slice all the
/// same, is never shut, and goes on handing out pieces after Dispose has returned (found by a review of the
/// lock-free core).
/// </summary>
public sealed class ZcopyLocalCacheDisposeRaceTests
{
    [Fact]
    public async Task A_cache_whose_first_slice_races_the_allocators_dispose_hands_out_nothing_after_it()
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 65536 }, source, processors: 1);
        Assert.True(allocator.ThreadCache);
        NativePages.Put(allocator.Alloc(100));     // the arena has a current folio with room
        var cache = allocator.CreateLocalCache();

        // Hold Dispose between its mark (and its shutting of known caches) and its draining of the arenas:
        // its reclaim of thread slices waits for the registry's lock, which this thread takes first.
        Lock registryLock = ThreadSliceRegistry.SyncRootForTests;
        Task dispose;
        BioVec during = default;
        registryLock.Enter();
        try
        {
            dispose = Task.Factory.StartNew(allocator.Dispose, TaskCreationOptions.LongRunning);
            SpinWait.SpinUntil(() => allocator.Owner.IsDisposed);
            // The cache's first slice, while the allocator is disposing: a piece, or ObjectDisposedException.
            Exception? duringError = Record.Exception(() => during = cache.Alloc(100));
            Assert.True(duringError is null or ObjectDisposedException, $"{duringError}");
        }
        finally
        {
            registryLock.Exit();
        }

        await dispose;
        if (!during.IsEmpty)
        {
            NativePages.Put(during);
        }

        // Dispose has returned: "later allocations throw ObjectDisposedException", through a cache too.
        BioVec after = default;
        Exception? error = Record.Exception(() => after = cache.Alloc(100));
        if (!after.IsEmpty)
        {
            NativePages.Put(after);
        }

        cache.Dispose();
        ThreadSlice.DropDeferredOfCurrentThread(); // this thread's deferred releases of the pieces above
        Assert.Equal(0, source.BytesMapped);
        Assert.IsType<ObjectDisposedException>(error);
    }
}
