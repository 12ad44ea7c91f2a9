namespace NativeZcopy;

/// <summary>A snapshot of what a <see cref="ZcopyAllocator"/> has done. Each figure is read atomically; the
/// set is not one instant, since allocation does not stop to be counted.</summary>
/// <param name="FoliosMapped">Folios ever mapped from the OS.</param>
/// <param name="FoliosUnmapped">Folios ever returned to the OS.</param>
/// <param name="FoliosReusedInPlace">Times an arena found every piece of its folio released and started
/// over on the same folio instead of unmapping it and mapping another.</param>
/// <param name="FragmentsAllocated">Pieces ever handed out. Read while threads allocate, the sum of the counts
/// behind it is not one atomic snapshot: it never goes down from one reading to the next, but may run up to one
/// slice's pieces ahead of, or behind, the real count until a later reading catches up.</param>
/// <param name="FolioSize">Bytes per folio.</param>
public readonly record struct ZcopyStatistics(
    long FoliosMapped,
    long FoliosUnmapped,
    long FoliosReusedInPlace,
    long FragmentsAllocated,
    int FolioSize)
{
    /// <summary>Folios whose pieces are all released, kept mapped for reuse (retention); part of <see cref="LiveFolios"/>.</summary>
    public long FoliosRetained { get; init; }

    /// <summary>
    /// Folios mapped now: held by an arena, by a piece still referenced, or retained for reuse. Read while other
    /// threads map and unmap, it is never below the folios mapped throughout the read, and may count a folio
    /// unmapped during it.
    /// </summary>
    public long LiveFolios => FoliosMapped - FoliosUnmapped;

    /// <summary>Bytes of folios mapped now.</summary>
    public long BytesMapped => LiveFolios * FolioSize;

    /// <summary>Tracked fragments reported as leaked so far (0 with tracking off; see
    /// <see cref="ZcopyAllocatorOptions.LeakReportAge"/>).</summary>
    public long FragmentsLeaked { get; init; }

    /// <summary>Tracked fragments that still hold a reference (0 with tracking off).</summary>
    public long TrackedFragmentsOutstanding { get; init; }
}
