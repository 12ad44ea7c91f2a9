using System.Threading;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.SideTable;

// Reads the process-wide table right after releases: runs from tests in other collections must not be
// registered meanwhile at the freed addresses or in the freed descriptors.
[Collection(ProcMapsReaders.Name)]
public sealed class PageSideTableTests
{
    [Fact]
    public void Every_interior_address_resolves_to_the_run_and_neighbours_do_not()
    {
        int page = NativePages.OsPageSize;
        BioVec run = NativePages.Alloc(5 * page);
        try
        {
            long entry = PageSideTable.Find(run.Page);
            Assert.NotEqual(0, entry);
            for (int offset = 0; offset < 5 * page; offset += page / 4)
            {
                Assert.Equal(entry, PageSideTable.Find(run.Page + offset));
            }

            Assert.NotEqual(entry, PageSideTable.Find(run.Page - 1));
            Assert.NotEqual(entry, PageSideTable.Find(run.Page + (5 * page)));
            ref PageRun descriptor = ref PageSideTable.Run(entry);
            Assert.Equal(run.Page, descriptor.Base);
            Assert.Equal((nuint)(5 * page), descriptor.Length);
            Assert.Equal(1, PageSideTable.CountOfState(Volatile.Read(ref descriptor.State)));
            Assert.Equal(PageSideTable.GenerationOf(entry), PageSideTable.GenerationOfState(descriptor.State));
        }
        finally
        {
            NativePages.Put(run);
        }
    }

    [Fact]
    public void Unregistering_frees_the_descriptor_under_a_new_generation()
    {
        BioVec run = NativePages.Alloc(100);
        long entry = PageSideTable.Find(run.Page);
        NativePages.Put(run);

        Assert.Equal(0, PageSideTable.Find(run.Page));
        long state = Volatile.Read(ref PageSideTable.Run(entry).State);
        Assert.NotEqual(PageSideTable.GenerationOf(entry), PageSideTable.GenerationOfState(state));
        Assert.Equal(0, PageSideTable.CountOfState(state));
    }

    /// <summary>
    /// A descriptor's generation never wraps: after a life under the last generation the descriptor is
    /// retired, so no entry is issued again under a generation a stale piece of it may still name.
    /// </summary>
    [Fact]
    public void A_descriptor_is_retired_after_its_last_generation_and_never_handed_out_again()
    {
        BioVec run = NativePages.Alloc(100);
        long last = PageSideTable.ReissueUnderForTests(run.Entry, PageSideTable.LastGeneration);
        NativePages.Put(new BioVec(run.Page, run.Offset, run.Length, last));
        Assert.Equal(0, PageSideTable.Find(run.Page));

        // The free list hands out the descriptor freed last first: a new run would get this one, under
        // generation 0, were it free.
        BioVec next = NativePages.Alloc(100);
        try
        {
            Assert.NotEqual((uint)last, (uint)next.Entry);
            PageSideTable.Verify();
        }
        finally
        {
            NativePages.Put(next);
        }
    }

    [Fact]
    public void Addresses_outside_the_covered_space_resolve_to_nothing()
    {
        Assert.Equal(0, PageSideTable.Find(0));
        Assert.Equal(0, PageSideTable.Find(-1));
        Assert.Equal(0, PageSideTable.Find((nint)1 << 48));
        Assert.Equal(0, PageSideTable.Find(nint.MaxValue));
    }
}
