namespace NativeZcopy;

/// <summary>How a <see cref="ZcopyAllocator"/> sizes and aligns what it hands out.</summary>
public sealed class ZcopyAllocatorOptions
{
    /// <summary>
    /// The default folio: 64 KiB. Sixteen 4 KiB pages amortize one map and one unmap over 512 pieces of
    /// 128 B, while a folio pinned by one long-lived piece costs 64 KiB, not megabytes.
    /// </summary>
    public const int DefaultFolioSize = 64 * 1024;

    /// <summary>The default alignment: 8 bytes, the natural alignment of every primitive a header holds.</summary>
    public const int DefaultAlignment = 8;

    /// <summary>
    /// Bytes per folio, the unit the allocator maps and breaks pieces off. A power of two, at least the OS
    /// page size and at most 1 GiB. Pieces may be up to half of it.
    /// </summary>
    public int FolioSize { get; init; } = DefaultFolioSize;

    /// <summary>Every piece starts at a multiple of this: a power of two, at most the OS page size.</summary>
    public int Alignment { get; init; } = DefaultAlignment;

    /// <summary>
    /// The value of the <c>nativezcopy.allocator</c> tag this allocator's metrics carry. When null, an
    /// allocator is named <c>allocator-N</c> in creation order (<see cref="ZcopyAllocator.Shared"/> is
    /// <c>shared</c>).
    /// </summary>
    public string? Name { get; init; }
}
