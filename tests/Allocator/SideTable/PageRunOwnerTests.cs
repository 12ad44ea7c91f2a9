using System;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.SideTable;

/// <summary>What a page run's owner does with a run whose unmap the OS refused.</summary>
[Collection(ProcMapsReaders.Name)]
public sealed class PageRunOwnerTests
{
    [Fact]
    public void A_refused_unmap_is_retried_by_the_owners_next_successful_unmap_without_a_map()
    {
        // The owner's remarks promise a retry "after its next successful unmap"; without it (a mutation test)
        // the refused run stayed mapped until the next map, Trim or Dispose.
        var source = new FaultInjectingPageSource();
        var owner = new PageRunOwner(source);
        BioVec first = NativePages.Alloc(100, owner);
        BioVec second = NativePages.Alloc(100, owner);
        source.FailUnmaps = true;
        Assert.Throws<InvalidOperationException>(() => NativePages.Put(first));
        Assert.Equal(1, owner.PendingUnmaps);

        source.FailUnmaps = false;
        long mapsBefore = source.MapCalls;
        NativePages.Put(second);

        Assert.Equal(mapsBefore, source.MapCalls);
        Assert.Equal(0, owner.PendingUnmaps);
        Assert.Equal(0, source.BytesMapped);
        SideTableChecker.AssertConsistent();
    }
}
