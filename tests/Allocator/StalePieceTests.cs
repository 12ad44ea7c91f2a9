using System;
using NativeZcopy.SideTable;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

public sealed class StalePieceTests
{
    /// <summary>
    /// Generations are counted per descriptor, so two descriptors are often at the same one (every fresh
    /// descriptor starts at 0). A stale piece whose address the OS handed to a run of another descriptor at
    /// the same generation must still be refused: the piece names its descriptor too. The piece is built
    /// exactly as that collision leaves it (the new run's address and generation, the old descriptor), so
    /// the test does not depend on the OS choosing to reuse an address.
    /// </summary>
    [Fact]
    public void A_stale_piece_is_refused_when_its_address_now_belongs_to_another_descriptor_with_the_same_generation()
    {
        int page = NativePages.OsPageSize;
        BioVec stale = NativePages.Alloc(page);
        long staleEntry = PageSideTable.Find(stale.Page);
        BioVec fresh = NativePages.Alloc(page);
        long freshEntry = PageSideTable.Find(fresh.Page);
        NativePages.Put(stale);
        try
        {
            Assert.NotEqual((uint)staleEntry, (uint)freshEntry);
            long collision = ((long)PageSideTable.GenerationOf(freshEntry) << 32) | (uint)(staleEntry & ~PageSideTable.TrackedBit);
            var colliding = new BioVec(fresh.Page, 0, page, collision);

            int before = NativePages.RefCount(fresh.Page);
            Assert.Contains("already released", Assert.Throws<InvalidOperationException>(() => NativePages.Put(colliding)).Message, StringComparison.Ordinal);
            Assert.Throws<InvalidOperationException>(() => NativePages.Get(colliding));
            Assert.Throws<InvalidOperationException>(() => NativePages.PutBatch([colliding]));
            Assert.Equal(before, NativePages.RefCount(fresh.Page));
        }
        finally
        {
            NativePages.Put(fresh);
        }
    }
}
