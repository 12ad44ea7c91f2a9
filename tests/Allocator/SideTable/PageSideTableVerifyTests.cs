using System;
using System.Threading;
using NativeZcopy.Native;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.SideTable;

[Collection(ProcMapsReaders.Name)]
public sealed class PageSideTableVerifyTests
{
    [Fact]
    public void Verify_lists_registered_runs_and_catches_a_dead_run_nobody_will_unmap()
    {
        var owner = new PageRunOwner(PageSource.Os);
        BioVec run = NativePages.Alloc(3 * NativePages.OsPageSize, owner);
        long entry = PageSideTable.Find(run.Page);
        PageRunSnapshot seen = Assert.Single(PageSideTable.Verify(), r => r.Base == run.Page);
        Assert.Equal((nuint)(3 * NativePages.OsPageSize), seen.Length);
        Assert.Equal(1, seen.Count);
        Assert.Same(owner, seen.Owner);

        // A count of zero that no owner is retrying is a leaked run: Verify must say so.
        ref long state = ref PageSideTable.Run(entry).State;
        Interlocked.Decrement(ref state);
        var error = Assert.Throws<InvalidOperationException>(() => PageSideTable.Verify());
        Assert.Contains($"0x{run.Page:X}", error.Message, StringComparison.Ordinal);

        Interlocked.Increment(ref state);
        NativePages.Put(run);
        SideTableChecker.AssertConsistent();
        Assert.DoesNotContain(PageSideTable.Verify(), r => r.Base == run.Page);
    }

    [Fact]
    public void Verify_catches_a_slot_that_names_the_wrong_run()
    {
        BioVec first = NativePages.Alloc(100);
        BioVec second = NativePages.Alloc(100);
        long firstEntry = PageSideTable.Find(first.Page);
        long secondEntry = PageSideTable.Find(second.Page);
        ref PageRun firstRun = ref PageSideTable.Run(firstEntry);
        nint firstBase = firstRun.Base;
        try
        {
            // Point the first run's descriptor at the second's pages: its own slot no longer matches.
            firstRun.Base = second.Page;
            Assert.Throws<InvalidOperationException>(() => PageSideTable.Verify());
        }
        finally
        {
            firstRun.Base = firstBase;
        }

        Assert.NotEqual(firstEntry, secondEntry);
        NativePages.Put(first);
        NativePages.Put(second);
        SideTableChecker.AssertConsistent();
    }
}
