using System;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.ThreadCache;

/// <summary>
/// A thread slice's share grows by one for each duplicate of its own pieces released on its thread, and once it
/// holds twice what it was installed with it drops what is above that from the folio's shared count.
/// </summary>
[Collection(DeferredReleaseReaders.Name)]
public sealed class FolioSliceTests
{
    [Fact]
    public void Duplicates_released_into_a_slice_keep_the_count_between_its_holders_and_the_installed_share_more() =>
        OnAFreshThreadsFirstSlice((own, installed, before) =>
        {
            // ThreadSliceTests' bound on the count was loose enough to pass a drop at four times the share, and a
            // drop that left the share as it was, which then dropped the count on every later take-back, down to
            // the references really held and below (mutation tests).
            int highest = before;
            for (int i = 0; i < 4 * installed; i++)
            {
                NativePages.Get(own);
                NativePages.Put(own); // taken back into the slice's share
                int count = NativePages.RefCount(own.Page);
                Assert.True(count >= before, $"pair {i}: the folio's count fell to {count}, below the {before} references held");
                highest = Math.Max(highest, count);
            }

            // The share starts one short of what it was installed with (the first piece) and drops its surplus
            // once it passes twice that: the count never rises by more than the installed share and one.
            Assert.InRange(highest - before, installed, installed + 1);
        });

    [Fact]
    public void Duplicates_released_by_PutBatch_in_runs_keep_the_count_as_bounded_as_one_at_a_time() =>
        OnAFreshThreadsFirstSlice((own, installed, before) =>
        {
            // PutBatch takes a run back with one addition to the share and one check for the surplus after it;
            // without the check a thread releasing duplicates in batches walked the folio's count up without
            // bound (mutation test of FolioSlice.TakeBackRun).
            int highest = before;
            BioVec[] run = [own, own, own];
            for (int i = 0; i < 4 * installed; i++)
            {
                NativePages.Get(own);
                NativePages.Get(own);
                NativePages.Get(own);
                NativePages.PutBatch(run); // one run of three, taken back into the slice's share at once
                int count = NativePages.RefCount(own.Page);
                Assert.True(count >= before, $"batch {i}: the folio's count fell to {count}, below the {before} references held");
                highest = Math.Max(highest, count);
            }

            // The share grows by three a batch from one short of what it was installed with, and drops its
            // surplus once it passes twice that: the highest count seen after a batch is within one of it.
            Assert.InRange(highest - before, installed - 1, installed + 1);
        });

    [Fact]
    public void A_PutBatch_run_that_takes_the_share_past_twice_its_size_drops_the_whole_surplus_at_its_end() =>
        OnAFreshThreadsFirstSlice((own, installed, before) =>
        {
            // The run's references go into the share at once and the surplus is dropped once, down to what the
            // share was installed with: a run of 2 x installed + 1 duplicates leaves the count one above where
            // it started. One piece at a time the drop came mid-run and the count ended installed above.
            var run = new BioVec[(2 * installed) + 1];
            for (int i = 0; i < run.Length; i++)
            {
                NativePages.Get(own);
                run[i] = own;
            }

            NativePages.PutBatch(run);
            Assert.Equal(before + 1, NativePages.RefCount(own.Page));
        });

    /// <summary>
    /// Runs <paramref name="body"/> on a fresh thread, whose first slice is 8 KiB of a 16 KiB folio, with its
    /// first piece (<c>own</c>), the share the slice was installed with, and the folio's count after the cut;
    /// then checks the piece is still live, releases it, and checks the allocator's Dispose unmaps everything.
    /// </summary>
    private static void OnAFreshThreadsFirstSlice(Action<BioVec, int, int> body)
    {
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        using (var thread = new DedicatedThread())
        {
            thread.Run(() =>
            {
                BioVec own = allocator.Alloc(100);
                body(own, (8192 / allocator.Alignment) + 1, NativePages.RefCount(own.Page));
                Assert.True(NativePages.IsLive(own));
                NativePages.Put(own);
            });
        }

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }
}
