using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeZcopy;

/// <summary>
/// The copy behind <see cref="ZcopyAllocator.MemDup"/>: bytes into a piece just cut, which nobody else can
/// see yet. Where the runtime reports 64-byte vectors accelerated (<see cref="Vector512.IsHardwareAccelerated"/>:
/// AVX-512 processors, unless the runtime prefers 256-bit vectors there), a plain loop of unaligned 64-byte
/// loads and stores; elsewhere, and for lengths that loop was not measured on, the runtime's own copy.
/// </summary>
/// <remarks>
/// <para>
/// Why not just <see cref="Span{T}.CopyTo(Span{T})"/>: on the AVX-512 machines of docs/benchmarks.md (step 38)
/// the runtime's copy of 256 B to 16 KiB moves at most 32 bytes per store, checks for overlap and, from
/// 2 KiB, calls the C library's copy; the loop here moved 1 KiB into lines not in L1 in 6.5-7.7 ns against
/// 6.8-10.3 ns (the higher figures for a destination not 64-byte aligned, as most pieces are), and 16 KiB
/// in 86-106 ns against 103-138 ns. It does not align the destination: with a page-aligned source that
/// makes every load split two lines instead, which measured slower (9.7-10.1 against 7.5-7.7 ns at 1 KiB).
/// </para>
/// <para>
/// The loop copies forward in rounds of four loads then four stores, and its tail is one more 64-byte copy
/// ending at the last byte, over bytes already copied: both are only correct when source and destination do
/// not overlap, which is checked. A source that overlaps the new piece can only be a stale span over bytes
/// released earlier; it gets the runtime's overlap-safe copy.
/// </para>
/// </remarks>
internal static unsafe class PieceCopy
{
    /// <summary>
    /// One vector: below it the loop has nothing to do but its tail, and the tail needs 64 bytes. Shorter
    /// copies were not measured; the runtime's copy does them with one or two overlapping stores.
    /// </summary>
    private const int MinWideLength = 64;

    /// <summary>The largest copy measured faster with the wide loop (16 KiB, step 38); above, the runtime's.</summary>
    private const int MaxWideLength = 16 * 1024;

    /// <summary>Copies <paramref name="source"/> to the <c>source.Length</c> bytes at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(ReadOnlySpan<byte> source, nint destination)
    {
        // A constant for the JIT: where 64-byte vectors are not accelerated only the runtime's copy is compiled.
        if (Vector512.IsHardwareAccelerated && source.Length is >= MinWideLength and <= MaxWideLength)
        {
            fixed (byte* from = source)
            {
                if (!Overlaps(from, (byte*)destination, source.Length))
                {
                    CopyWide(from, (byte*)destination, source.Length);
                    return;
                }
            }
        }

        source.CopyTo(new Span<byte>((void*)destination, source.Length));
    }

    /// <summary>True when the <paramref name="length"/> bytes at <paramref name="a"/> and at <paramref name="b"/> share a byte.</summary>
    private static bool Overlaps(byte* a, byte* b, int length) =>
        (nuint)(a - b) < (nuint)length || (nuint)(b - a) < (nuint)length;

    /// <summary>
    /// Copies <paramref name="length"/> (64 or more) bytes between two ranges that do not overlap. Internal for
    /// the tests, which run it even where <see cref="Copy"/> would not (Vector512 is correct, if slow, anywhere).
    /// </summary>
    internal static void CopyWide(byte* source, byte* destination, nint length)
    {
        nint done = 0;

        // Four vectors per round: four loads in flight before the first store waits on one.
        for (; done + (4 * 64) <= length; done += 4 * 64)
        {
            Vector512<byte> a = Vector512.Load(source + done);
            Vector512<byte> b = Vector512.Load(source + done + 64);
            Vector512<byte> c = Vector512.Load(source + done + (2 * 64));
            Vector512<byte> d = Vector512.Load(source + done + (3 * 64));
            a.Store(destination + done);
            b.Store(destination + done + 64);
            c.Store(destination + done + (2 * 64));
            d.Store(destination + done + (3 * 64));
        }

        for (; done + 64 <= length; done += 64)
        {
            Vector512.Load(source + done).Store(destination + done);
        }

        if (done < length)
        {
            // The last 64 bytes, some already copied: length is at least 64, so this starts inside the range.
            Vector512.Load(source + length - 64).Store(destination + length - 64);
        }
    }
}
