using NativeZcopy.Native;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// A piece that holds the only reference left on its folio, so that releasing it is the folio's final
/// release: for tests of what a release does when the OS refuses the unmap that follows.
/// </summary>
internal static class LastReferenceOfAFolio
{
    /// <summary>The folio size the allocator passed to <see cref="Cut"/> must have: two pieces fill it.</summary>
    public const int FolioSize = 4096;

    /// <summary>The length of the piece <see cref="Cut"/> returns.</summary>
    public const int PieceLength = 2000;

    /// <summary>
    /// An allocator on one arena, with 4 KiB folios and no thread cache (so each release is dropped at once,
    /// not deferred or taken back by a slice).
    /// </summary>
    public static ZcopyAllocator NewAllocator(PageSource source) =>
        new(new ZcopyAllocatorOptions { FolioSize = FolioSize, ThreadCache = false }, source, processors: 1);

    /// <summary>
    /// An allocator like <see cref="NewAllocator"/>'s on the OS's pages that keeps one dead folio for reuse, so
    /// that the folio of a piece from <see cref="Cut"/> is reissued at the same address once that piece is released.
    /// </summary>
    public static ZcopyAllocator NewRetainingAllocator() =>
        new(new ZcopyAllocatorOptions { FolioSize = FolioSize, ThreadCache = false, RetainedFoliosPerArena = 1 }, PageSource.Os, processors: 1);

    /// <summary>
    /// Releases <paramref name="stale"/> (a piece from <see cref="Cut"/> on a <see cref="NewRetainingAllocator"/>),
    /// which keeps its folio for reuse, then cuts pieces until one lands on that folio again, under a new
    /// generation: returns it, the piece another user would now hold at the stale piece's address.
    /// </summary>
    public static BioVec ReleaseAndReissue(ZcopyAllocator allocator, BioVec stale)
    {
        NativePages.Put(stale);
        var others = new System.Collections.Generic.List<BioVec>();
        try
        {
            for (int i = 0; i < 8; i++)
            {
                BioVec piece = allocator.Alloc(PieceLength);
                if (piece.Page == stale.Page)
                {
                    return piece;
                }

                others.Add(piece);
            }

            throw new System.InvalidOperationException($"No piece of 8 landed on {stale}'s folio: was it kept for reuse?");
        }
        finally
        {
            NativePages.PutBatch(others.ToArray());
        }
    }

    /// <summary>
    /// Cuts a piece, fills the rest of its folio, moves the arena on to a second folio and has it give its
    /// share of the first back, then releases the filler: the piece is all that holds the first folio.
    /// </summary>
    public static BioVec Cut(ZcopyAllocator allocator, byte fill)
    {
        BioVec piece = allocator.Alloc(PieceLength);
        piece.AsSpan().Fill(fill);
        BioVec neighbour = allocator.Alloc(PieceLength);
        BioVec onTheNextFolio = allocator.Alloc(PieceLength);
        if (neighbour.Page != piece.Page || onTheNextFolio.Page == piece.Page)
        {
            throw new System.InvalidOperationException(
                $"The pieces did not fall as planned: {piece}, {neighbour}, {onTheNextFolio} (is the folio {FolioSize} bytes?)");
        }

        // The arena parks a folio it moved off while pieces hold it; Trim gives the arena's share of it back.
        NativePages.Put(neighbour);
        allocator.Trim();
        NativePages.Put(onTheNextFolio);
        if (NativePages.RefCount(piece.Page) != 1)
        {
            throw new System.InvalidOperationException($"{piece}'s folio holds {NativePages.RefCount(piece.Page)} references, not 1.");
        }

        return piece;
    }
}
