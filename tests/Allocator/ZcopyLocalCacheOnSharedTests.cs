using System.Collections.Generic;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

[Collection(SharedAllocatorReaders.Name)]
public sealed class ZcopyLocalCacheOnSharedTests
{
    /// <summary>The shared allocator is never disposed, but it still counts the pieces of its caches' slices.</summary>
    [Fact]
    public void The_shared_allocators_statistics_count_its_local_caches_pieces_while_they_hold_their_slices()
    {
        ZcopyAllocator shared = ZcopyAllocator.Shared;
        long before = shared.GetStatistics().FragmentsAllocated;
        var pieces = new List<BioVec>();
        using (ZcopyLocalCache cache = shared.CreateLocalCache())
        {
            for (int i = 0; i < 100; i++)
            {
                pieces.Add(cache.Alloc(100));
            }

            Assert.Equal(before + 100, shared.GetStatistics().FragmentsAllocated);
            foreach (BioVec piece in pieces)
            {
                cache.Put(piece);
            }
        }

        Assert.Equal(before + 100, shared.GetStatistics().FragmentsAllocated);
    }
}
