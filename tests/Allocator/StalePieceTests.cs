using System;
using System.Collections.Generic;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

[Collection(ProcMapsReaders.Name)]
public sealed class StalePieceTests
{
    /// <summary>
    /// A stale piece whose address the OS handed to a new run registered under a different descriptor
    /// that happens to have the same generation number must still be refused: generations alone are per
    /// descriptor and small, so they collide across descriptors.
    /// </summary>
    [Fact]
    public void A_stale_piece_is_refused_when_its_address_now_belongs_to_another_descriptor_with_the_same_generation()
    {
        int page = NativePages.OsPageSize;
        var kept = new List<BioVec>();
        try
        {
            for (int attempt = 0; attempt < 50; attempt++)
            {
                // Drain the descriptor free list so the next registrations take fresh descriptors (generation 0).
                for (int i = 0; i < 64; i++)
                {
                    kept.Add(NativePages.Alloc(page));
                }

                BioVec stale = NativePages.Alloc(page);
                NativePages.Put(stale);                        // its descriptor goes to the top of the free list
                kept.Add(NativePages.Alloc(64 * page));        // takes that descriptor, mapped elsewhere (too big for the hole)
                BioVec fresh = NativePages.Alloc(page);        // the OS's first choice: the stale piece's hole
                kept.Add(fresh);
                if (fresh.Page != stale.Page || PageSideTable.GenerationOf(PageSideTable.Find(fresh.Page)) != stale.Generation)
                {
                    continue;
                }

                int before = NativePages.RefCount(fresh.Page);
                Assert.Throws<InvalidOperationException>(() => NativePages.Put(stale));
                Assert.Throws<InvalidOperationException>(() => NativePages.Get(stale));
                Assert.Equal(before, NativePages.RefCount(fresh.Page));
                return;
            }

            Assert.Fail("the OS never handed a freed page to a fresh descriptor of the same generation in 50 attempts");
        }
        finally
        {
            foreach (BioVec piece in kept)
            {
                if (PageSideTable.Find(piece.Page) != 0)
                {
                    NativePages.Put(piece);
                }
            }
        }
    }
}
