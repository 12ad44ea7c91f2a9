using System.Collections.Generic;
using System.Reflection;
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

    [Fact]
    public void The_free_list_has_room_for_every_index_handed_out_when_it_grows()
    {
        // Unregister files a dead run's index without allocating, so TakeIndex grows the list before an index
        // is used; a growth one index late left it a slot short (a mutation test), and the release that filled
        // it overran the list with its run half unregistered. Fresh indices are taken (the free ones first)
        // until the list has grown, checking after each that it has a slot for every index handed out.
        int lengthAtStart = FreeListLength();
        var runs = new List<BioVec>();
        try
        {
            while (StaticOf<int>("s_nextIndex") <= lengthAtStart + 1 && runs.Count < 100_000)
            {
                runs.Add(NativePages.Alloc(1));
                if (StaticOf<int>("s_freeCount") == 0)
                {
                    Assert.True(
                        FreeListLength() >= StaticOf<int>("s_nextIndex"),
                        $"the free list holds {FreeListLength()} slots for {StaticOf<int>("s_nextIndex")} descriptors handed out");
                }
            }

            Assert.True(FreeListLength() > lengthAtStart, "the test never made the free list grow");
        }
        finally
        {
            NativePages.PutBatch(runs.ToArray());
        }

        SideTableChecker.AssertConsistent();
    }

    private static int FreeListLength() => StaticOf<int[]>("s_freeIndices").Length;

    private static T StaticOf<T>(string field) =>
        (T)typeof(PageSideTable).GetField(field, BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
}
