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
    public void Duplicates_released_into_a_slice_keep_the_count_between_its_holders_and_the_installed_share_more()
    {
        // ThreadSliceTests' bound on the count was loose enough to pass a drop at four times the share, and a
        // drop that left the share as it was, which then dropped the count on every later take-back, down to
        // the references really held and below (mutation tests).
        var source = new FaultInjectingPageSource();
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, source, processors: 1);
        using var thread = new DedicatedThread(); // a fresh thread's first slice: 8 KiB
        thread.Run(() =>
        {
            BioVec own = allocator.Alloc(100);
            int installed = (8192 / allocator.Alignment) + 1;
            int before = NativePages.RefCount(own.Page);
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
            Assert.True(NativePages.IsLive(own));
            NativePages.Put(own);
        });

        allocator.Dispose();
        Assert.Equal(0, source.BytesMapped);
    }
}
