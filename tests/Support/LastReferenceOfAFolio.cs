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
