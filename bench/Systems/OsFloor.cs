using System;
using NativeZcopy.Native;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// The OS floor of a batch: map the batch's bytes (rounded up to whole pages) in folio-sized mappings
/// through NativeZcopy's own <see cref="PageSource.Os"/>, write one byte per page, unmap; with none of the
/// allocator's bookkeeping. Two forms: first touch (no options, a page fault per page: the wording,
/// "mapping, first-touching and unmapping the same bytes"), and the mapping as the allocator's defaults ask
/// for it (<see cref="PageMapOptions.Prefault"/>, plus <see cref="PageMapOptions.HugePages"/> for folios of
/// whole 2 MiB), which costs one call instead of a fault per page and is the cost the default policy really
/// cannot avoid when every folio turns over. The default policy maps fewer folios than either, since it
/// reissues a folio in place when its pieces are all back.
/// </summary>
internal static unsafe class OsFloor
{
    /// <summary>Maps, touches and unmaps <paramref name="bytes"/> in mappings of at most <paramref name="folioSize"/>.</summary>
    public static void MapTouchUnmap(long bytes, int folioSize) => MapTouchUnmap(bytes, folioSize, PageMapOptions.None);

    /// <summary>
    /// The same with each folio mapped as the allocator's defaults map it: prefaulted, and as huge pages when
    /// <paramref name="folioSize"/> is a whole number of 2 MiB.
    /// </summary>
    public static void MapPopulateUnmap(long bytes, int folioSize) =>
        MapTouchUnmap(bytes, folioSize, PageMapOptions.Prefault | (folioSize % (2 << 20) == 0 ? PageMapOptions.HugePages : PageMapOptions.None));

    private static void MapTouchUnmap(long bytes, int folioSize, PageMapOptions options)
    {
        PageSource source = PageSource.Os;
        int page = source.PageSize;
        long total = (bytes + page - 1) & ~(long)(page - 1);
        for (long done = 0; done < total; done += folioSize)
        {
            nuint length = (nuint)Math.Min(folioSize, total - done);
            nint address = source.TryMap(length, options, out int error);
            if (address == 0)
            {
                throw new InvalidOperationException($"The OS refused to map {length} bytes: {source.DescribeError(error)}.");
            }

            for (nuint offset = 0; offset < length; offset += (nuint)page)
            {
                *(byte*)(address + (nint)offset) = 1;
            }

            source.TryUnmap(address, length, out _);
        }
    }
}
