using System;
using System.Runtime.Versioning;
using Mono.Unix.Native;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

/// <summary>
/// <see cref="PieceCopy"/>: every length around the wide loop's edges (one vector, four, the tail that
/// overlaps bytes already copied, the bound where it hands over to the runtime's copy), at offsets that split
/// lines, copies exactly the source, reads nothing past it and writes nothing outside the destination;
/// overlapping ranges get the runtime's overlap-safe copy. The wide loop is also run directly, so it is
/// tested where <see cref="PieceCopy.Copy"/> would not choose it (Vector512 is correct, if slow, anywhere).
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed unsafe class PieceCopyTests
{
    /// <summary>Bytes checked on each side of the destination, more than one vector.</summary>
    private const int Guard = 96;

    private const byte GuardByte = 0xA5;

    private const int Page = 4096;

    private static readonly int[] s_lengths = [1, 63, 64, 65, 127, 128, 200, 255, 256, 257, 319, 320, 1000, 1024, 4095, 16 * 1024, (16 * 1024) + 1, 40000];

    public static TheoryData<int, int, int> LengthsAndOffsets()
    {
        var data = new TheoryData<int, int, int>();
        foreach (int length in s_lengths)
        {
            data.Add(length, 0, 0);
            data.Add(length, 8, 40);
            data.Add(length, 63, 1);
        }

        data.Add(0, 0, 0);
        return data;
    }

    public static TheoryData<int> WideLengths()
    {
        var data = new TheoryData<int>();
        foreach (int length in s_lengths)
        {
            if (length >= 64)
            {
                data.Add(length);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LengthsAndOffsets))]
    public void Copies_exactly_the_source_and_nothing_around_it(int length, int sourceOffset, int destinationOffset)
    {
        byte[] source = new byte[sourceOffset + length];
        new Random(length + sourceOffset).NextBytes(source);
        byte[] destination = new byte[Guard + destinationOffset + length + Guard];
        destination.AsSpan().Fill(GuardByte);

        fixed (byte* to = destination)
        {
            PieceCopy.Copy(source.AsSpan(sourceOffset, length), (nint)(to + Guard + destinationOffset));
        }

        Assert.True(destination.AsSpan(Guard + destinationOffset, length).SequenceEqual(source.AsSpan(sourceOffset)));
        Assert.Equal(-1, destination.AsSpan(0, Guard + destinationOffset).IndexOfAnyExcept(GuardByte));
        Assert.Equal(-1, destination.AsSpan(Guard + destinationOffset + length).IndexOfAnyExcept(GuardByte));
    }

    [Theory]
    [MemberData(nameof(WideLengths))]
    public void The_wide_loop_reads_nothing_past_the_source_and_writes_nothing_past_the_destination(int length)
    {
        // Both ranges end where an inaccessible page begins: a load or a store one byte too far faults.
        byte* source = MapEndingAtTrapPage(length, out nint sourceMapping, out nuint sourceMapped);
        byte* destination = MapEndingAtTrapPage(length + Guard, out nint destinationMapping, out nuint destinationMapped);
        try
        {
            new Random(length).NextBytes(new Span<byte>(source, length));
            new Span<byte>(destination, length + Guard).Fill(GuardByte);

            PieceCopy.CopyWide(source, destination + Guard, length);

            Assert.True(new Span<byte>(destination + Guard, length).SequenceEqual(new Span<byte>(source, length)));
            Assert.Equal(-1, new Span<byte>(destination, Guard).IndexOfAnyExcept(GuardByte));
        }
        finally
        {
            Assert.Equal(0, Syscall.munmap(sourceMapping, sourceMapped));
            Assert.Equal(0, Syscall.munmap(destinationMapping, destinationMapped));
        }
    }

    [Theory]
    [InlineData(1000, 8)]
    [InlineData(1000, -8)]
    [InlineData(1000, 600)]
    [InlineData(1000, -600)]
    [InlineData(1000, 999)]
    [InlineData(1000, -999)]
    [InlineData(1000, 1000)]
    [InlineData(1000, -1000)]
    [InlineData(200, 199)]
    [InlineData(200, -199)]
    public void Overlapping_ranges_copy_as_memmove_does(int length, int shift)
    {
        // A source overlapping the new piece can only be a stale span over released bytes; the result must
        // still be the source's bytes as they were, which the wide loop's forward rounds and its tail would not
        // give. A shift of one less than the length overlaps by a single byte; a shift of the length is two
        // ranges side by side, which do not overlap at all.
        byte[] buffer = new byte[length + (2 * Math.Abs(shift)) + 64];
        new Random(length ^ shift).NextBytes(buffer);
        int from = Math.Abs(shift);
        byte[] expected = buffer.AsSpan(from, length).ToArray();

        fixed (byte* start = buffer)
        {
            PieceCopy.Copy(buffer.AsSpan(from, length), (nint)(start + from + shift));
        }

        Assert.True(buffer.AsSpan(from + shift, length).SequenceEqual(expected));
    }

    /// <summary>
    /// Maps <paramref name="length"/> readable, writable bytes that end exactly where a page mapped with no
    /// access begins; <paramref name="mapping"/> and <paramref name="mapped"/> are what to unmap.
    /// </summary>
    private static byte* MapEndingAtTrapPage(int length, out nint mapping, out nuint mapped)
    {
        nuint usable = (nuint)((length + Page - 1) / Page * Page);
        mapped = usable + Page;
        mapping = Syscall.mmap(IntPtr.Zero, mapped, MmapProts.PROT_READ | MmapProts.PROT_WRITE, MmapFlags.MAP_PRIVATE | MmapFlags.MAP_ANONYMOUS, -1, 0);
        Assert.NotEqual(Syscall.MAP_FAILED, mapping);
        Assert.Equal(0, Syscall.mprotect(mapping + (nint)usable, Page, MmapProts.PROT_NONE));
        return (byte*)(mapping + (nint)usable - length);
    }
}
