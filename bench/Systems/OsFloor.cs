using System;
using NativeZcopy.Native;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// The OS floor of a batch: map the batch's bytes (rounded up to whole pages) in folio-sized mappings
/// through NativeZcopy's own <see cref="PageSource.Os"/>, write one byte per page (first touch), unmap.
/// Exactly the system calls and page faults NativeZcopy's default unmap-on-release policy cannot avoid when
/// every folio turns over, with none of its bookkeeping.
/// </summary>
internal static unsafe class OsFloor
{
    /// <summary>Maps, touches and unmaps <paramref name="bytes"/> in mappings of at most <paramref name="folioSize"/>.</summary>
    public static void MapTouchUnmap(long bytes, int folioSize)
    {
        PageSource source = PageSource.Os;
        int page = source.PageSize;
        long total = (bytes + page - 1) & ~(long)(page - 1);
        for (long done = 0; done < total; done += folioSize)
        {
            nuint length = (nuint)Math.Min(folioSize, total - done);
            nint address = source.TryMap(length, out int error);
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
